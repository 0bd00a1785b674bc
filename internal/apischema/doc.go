package apischema

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Doc is an OpenAPI document (api/openapi.yaml) as generic JSON-like values, with the lookups
// that the checks of every protocol face need: walking down keys, following $ref, and the
// schemas of an operation's JSON request body and responses.
type Doc struct {
	Root Spec
}

// Load decodes an OpenAPI document from YAML (or JSON).
func Load(data []byte) (Doc, error) {
	var root Spec
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Doc{}, fmt.Errorf("failed to decode the OpenAPI document: %w", err)
	}
	return Doc{Root: root}, nil
}

// At walks keys down from the root; nil when a key is missing.
func (d Doc) At(keys ...string) Spec { return MapAt(d.Root, keys...) }

// Resolve follows a $ref within the document ("#/components/schemas/X"); nil when unknown. It
// is the Resolver of Compare.
func (d Doc) Resolve(ref string) Spec {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	return d.At(strings.Split(path, "/")...)
}

// Deref follows $refs until a value that is not one (nil when one is unknown).
func (d Doc) Deref(s Spec) Spec {
	for depth := 0; s != nil && depth < 16; depth++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		s = d.Resolve(ref)
	}
	return s
}

// Operation is the operation of method (lower case: "post") at path; nil when not documented.
func (d Doc) Operation(path, method string) Spec { return d.At("paths", path, method) }

// RequestSchema is the JSON schema of an operation's request body (contentType, e.g.
// "application/json"), $refs followed; nil when it documents none.
func (d Doc) RequestSchema(op Spec, contentType string) Spec {
	body := d.Deref(MapAt(op, "requestBody"))
	return d.Deref(MapAt(d.Deref(MapAt(body, "content", contentType)), "schema"))
}

// ResponseSchema is the JSON schema of an operation's response with status (e.g. "200"),
// $refs followed; nil when it documents none.
func (d Doc) ResponseSchema(op Spec, status, contentType string) Spec {
	resp := d.Deref(MapAt(op, "responses", status))
	return d.Deref(MapAt(resp, "content", contentType, "schema"))
}

// MapAt walks keys down from m; nil when a key is missing or not an object.
func MapAt(m Spec, keys ...string) Spec {
	for _, k := range keys {
		if m == nil {
			return nil
		}
		m, _ = m[k].(Spec)
	}
	return m
}

// Paths lists the document's paths that start with prefix, sorted.
func (d Doc) Paths(prefix string) []string {
	var out []string
	for p := range d.At("paths") {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

var anyType = reflect.TypeFor[any]()

// CheckParams compares the documented schema of what an operation takes (spec; nil when the
// document has none) with the Go type its handler decodes the request into (nil: it decodes
// nothing, and then the document must describe no properties). name prefixes the differences.
func CheckParams(name string, spec Spec, params reflect.Type, resolve Resolver) []string {
	if params == nil {
		if props, _ := spec["properties"].(Spec); len(props) > 0 {
			return []string{fmt.Sprintf("%s: the document describes params %v, the handler decodes none", name, sortedKeys(props))}
		}
		return nil
	}
	if spec == nil {
		return []string{fmt.Sprintf("%s: the handler decodes %s, the document describes no request body", name, params)}
	}
	return Compare(name+" params", spec, params, resolve)
}

// CheckResult compares the documented schema of what an operation answers (spec; nil when the
// document says nothing) with the Go type its handler answers: that type must be a typed one
// (never any), and all its fields documented; with subset, a type that several operations share
// may have fields the document leaves out (CompareSubset).
func CheckResult(name string, spec Spec, result reflect.Type, subset bool, resolve Resolver) []string {
	switch {
	case spec == nil:
		return []string{fmt.Sprintf("%s: the document does not say what it answers", name)}
	case result == nil || result == anyType:
		return []string{fmt.Sprintf("%s: the handler answers untyped data (any); give it a result type", name)}
	case subset:
		return CompareSubset(name+" data", spec, result, resolve)
	}
	return Compare(name+" data", spec, result, resolve)
}

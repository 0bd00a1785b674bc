// Package apischema compares the JSON Schemas of api/openapi.yaml with the Go types that the
// gateway decodes action params into and encodes action results from, field by field: every
// property's JSON name, its type (recursively through objects and arrays) and whether it is
// required. So a field added to a Go params or result struct without the document, or to the
// document without the struct, fails a test.
//
// A Go struct field is required when its json tag has no omitempty (an encoded result always
// carries it; a params field a client may leave out is marked omitempty, which changes nothing
// when decoding). Types that marshal themselves (json.Marshaler, encoding.TextMarshaler),
// json.RawMessage and interfaces are any JSON: their schema is not checked below them.
package apischema

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Spec is a schema of the OpenAPI document, decoded from YAML or JSON.
type Spec = map[string]any

// Field is one JSON property of a Go struct type.
type Field struct {
	Name     string
	Type     reflect.Type
	Required bool // no omitempty
}

// Fields lists the JSON properties of a struct type (embedded structs flattened), by name.
func Fields(t reflect.Type) map[string]Field {
	out := map[string]Field{}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			for k, v := range Fields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = Field{Name: name, Type: f.Type, Required: !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero")}
	}
	return out
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

var (
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// opaque tells whether a Go type is any JSON as far as a schema check goes.
func opaque(t reflect.Type) bool {
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return true
	}
	return t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType)
}

// JSONType is the JSON Schema type a Go type encodes as ("" for any JSON).
func JSONType(t reflect.Type) string {
	t = deref(t)
	if opaque(t) {
		return ""
	}
	if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // []byte is base64
		}
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return ""
}

// Generate writes the JSON Schema of a Go type: type, properties and required for structs,
// items for slices, additionalProperties for maps. It is what Compare expects of the document
// (the document may add descriptions, formats, enums and bounds).
func Generate(t reflect.Type) Spec {
	s := Spec{}
	typ := JSONType(t)
	if typ == "" {
		return s
	}
	s["type"] = typ
	t = deref(t)
	switch typ {
	case "array":
		s["items"] = Generate(t.Elem())
	case "object":
		if t.Kind() == reflect.Map {
			s["additionalProperties"] = Generate(t.Elem())
			break
		}
		props := Spec{}
		var required []any
		fields := Fields(t)
		for _, name := range sortedKeys(fields) {
			f := fields[name]
			props[name] = Generate(f.Type)
			if f.Required {
				required = append(required, name)
			}
		}
		s["properties"] = props
		if len(required) > 0 {
			s["required"] = required
		}
	}
	return s
}

// Resolver looks up a $ref of the document ("#/components/schemas/Name"); nil when unknown.
type Resolver func(ref string) Spec

// Compare checks a schema of the document against a Go type and returns the differences, each
// prefixed with path (e.g. "v12 get_self_info result"). It follows $ref through resolve, and
// allOf (the union of its parts' properties); a oneOf or anyOf matches when one branch does.
func Compare(path string, spec Spec, t reflect.Type, resolve Resolver) []string {
	c := comparer{resolve: resolve}
	c.compare(path, spec, t, 0)
	return c.diffs
}

// CompareSubset is Compare for a struct that several operations share, each documenting the
// fields it reads: at the top level, the document may leave fields of t out, and required-ness
// is not compared (it differs by operation); every property it has must still be a field of
// the same type (compared fully below the top level).
func CompareSubset(path string, spec Spec, t reflect.Type, resolve Resolver) []string {
	c := comparer{resolve: resolve, subset: true}
	c.compare(path, spec, t, 0)
	return c.diffs
}

type comparer struct {
	resolve Resolver
	subset  bool // at depth 0 (CompareSubset)
	diffs   []string
}

func (c *comparer) errorf(format string, args ...any) {
	c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
}

// flatten resolves $ref and merges allOf into one schema.
func (c *comparer) flatten(s Spec) Spec {
	for depth := 0; depth < 16; depth++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		r := Spec(nil)
		if c.resolve != nil {
			r = c.resolve(ref)
		}
		if r == nil {
			c.errorf("%s: unknown $ref", ref)
			return nil
		}
		s = r
	}
	all, ok := s["allOf"].([]any)
	if !ok {
		return s
	}
	out := Spec{}
	props := Spec{}
	var required []any
	for k, v := range s {
		if k != "allOf" {
			out[k] = v
		}
	}
	parts := []Spec{s}
	for _, part := range all {
		if p, ok := part.(Spec); ok {
			if p = c.flatten(p); p != nil {
				parts = append(parts, p)
			}
		}
	}
	for _, p := range parts {
		if t, ok := p["type"]; ok {
			out["type"] = t
		}
		if pp, ok := p["properties"].(Spec); ok {
			for k, v := range pp {
				props[k] = v
			}
		}
		if r, ok := p["required"].([]any); ok {
			required = append(required, r...)
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if v, ok := p[k]; ok {
				out[k] = v
			}
		}
	}
	delete(out, "allOf")
	if len(props) > 0 {
		out["properties"] = props
	}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// specTypes lists a schema's types ("type": "x" or ["x", "null"]; a const or enum says its
// values' types); nil when it allows any.
func specTypes(s Spec) []string {
	if _, ok := s["type"]; !ok {
		vals, _ := s["enum"].([]any)
		if c, ok := s["const"]; ok {
			vals = append(vals, c)
		}
		var out []string
		for _, v := range vals {
			out = append(out, jsonTypeOf(v))
		}
		return out
	}
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if str, ok := x.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

func typeOK(spec []string, goType string) bool {
	for _, s := range spec {
		if s == goType || s == "number" && goType == "integer" {
			return true
		}
	}
	return false
}

func (c *comparer) compare(path string, spec Spec, t reflect.Type, depth int) {
	if depth > 32 {
		return
	}
	if spec = c.flatten(spec); spec == nil {
		return
	}
	for _, key := range []string{"oneOf", "anyOf"} {
		if alts, ok := spec[key].([]any); ok && spec["type"] == nil {
			var best []string
			for _, a := range alts {
				as, _ := a.(Spec)
				sub := comparer{resolve: c.resolve}
				sub.compare(path, as, t, depth+1)
				if len(sub.diffs) == 0 {
					return
				}
				if best == nil || len(sub.diffs) < len(best) {
					best = sub.diffs
				}
			}
			c.errorf("%s: matches no branch of %s (closest: %s)", path, key, strings.Join(best, "; "))
			return
		}
	}
	goType := JSONType(t)
	types := specTypes(spec)
	switch {
	case goType == "":
		return // the Go side is any JSON
	case types == nil:
		c.errorf("%s: the document allows any JSON, the code has %s (%s)", path, goType, t)
		return
	case !typeOK(types, goType):
		c.errorf("%s: %v in the document, %s (%s) in the code", path, spec["type"], goType, t)
		return
	}
	t = deref(t)
	switch goType {
	case "array":
		if items, ok := spec["items"].(Spec); ok {
			c.compare(path+"[]", items, t.Elem(), depth+1)
		} else if JSONType(t.Elem()) != "" {
			c.errorf("%s: the document does not say what the array holds, the code has %s", path, t.Elem())
		}
	case "object":
		if t.Kind() == reflect.Map {
			if ap, ok := spec["additionalProperties"].(Spec); ok {
				c.compare(path+"{}", ap, t.Elem(), depth+1)
			}
			return
		}
		c.compareStruct(path, spec, t, depth)
	}
}

func (c *comparer) compareStruct(path string, spec Spec, t reflect.Type, depth int) {
	props, _ := spec["properties"].(Spec)
	fields := Fields(t)
	required := map[string]bool{}
	if r, ok := spec["required"].([]any); ok {
		for _, x := range r {
			if s, ok := x.(string); ok {
				required[s] = true
			}
		}
	}
	for _, name := range sortedKeys(props) {
		f, ok := fields[name]
		if !ok {
			c.errorf("%s: the document has %q, which %s lacks", path, name, t)
			continue
		}
		ps, _ := props[name].(Spec)
		c.compare(path+"."+name, ps, f.Type, depth+1)
	}
	if c.subset && depth == 0 {
		return
	}
	for _, name := range sortedKeys(fields) {
		f := fields[name]
		if _, ok := props[name]; !ok {
			c.errorf("%s: %s has %q (%s), which the document lacks", path, t, name, f.Type)
			continue
		}
		switch {
		case f.Required && !required[name]:
			c.errorf("%s.%s: required in the code (no omitempty), optional in the document", path, name)
		case !f.Required && required[name]:
			c.errorf("%s.%s: required in the document, optional in the code (omitempty)", path, name)
		}
	}
	for name := range required {
		if _, ok := props[name]; !ok {
			c.errorf("%s: the document requires %q but does not describe it", path, name)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonTypeOf is the JSON Schema type of a value decoded from YAML or JSON.
func jsonTypeOf(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int, int64, uint64:
		return "integer"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return ""
}

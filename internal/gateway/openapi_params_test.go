package gateway

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/matrix-onebot/gateway/api"
	"github.com/matrix-onebot/gateway/internal/apischema"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// openAPIDoc is api/openapi.yaml as generic JSON-like values, with the lookups the schema checks
// need.
type openAPIDoc struct {
	root map[string]any
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var root map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &root); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return openAPIDoc{root: root}
}

// at walks keys down from the root; nil when a key is missing.
func (d openAPIDoc) at(keys ...string) map[string]any {
	cur := d.root
	for _, k := range keys {
		next, _ := cur[k].(map[string]any)
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// resolve follows a $ref within the document ("#/components/schemas/X").
func (d openAPIDoc) resolve(ref string) apischema.Spec {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	return d.at(strings.Split(path, "/")...)
}

func (d openAPIDoc) deref(s map[string]any) map[string]any {
	for s != nil {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		s = d.resolve(ref)
	}
	return s
}

// v12Schema is the request schema of a v12 action (x-onebot-action).
func (d openAPIDoc) v12Schema(name string) map[string]any {
	for _, s := range d.at("components", "schemas") {
		if m, _ := s.(map[string]any); m["x-onebot-action"] == name {
			return m
		}
	}
	return nil
}

// params is the schema of an action's params; ok false when the action is not documented.
func (d openAPIDoc) params(a *action) (apischema.Spec, bool) {
	if a.Version == 11 {
		op := d.at("paths", "/onebot/v11/"+a.Name, "post")
		if op == nil {
			return nil, false
		}
		body := d.deref(d.at("paths", "/onebot/v11/"+a.Name, "post", "requestBody"))
		schema, _ := d.deref(mapAt(body, "content", "application/json"))["schema"].(map[string]any)
		return d.deref(schema), true
	}
	s := d.v12Schema(a.Name)
	if s == nil {
		return nil, false
	}
	return d.deref(mapAt(s, "properties", "params")), true
}

// data is the schema of an action's data: v12 x-onebot-data; v11 the data property of its 200
// response (in an allOf part, or its else branch after the V11Failed check).
func (d openAPIDoc) data(a *action) apischema.Spec {
	if a.Version == 12 {
		s, _ := d.v12Schema(a.Name)["x-onebot-data"].(map[string]any)
		return s
	}
	resp := d.deref(d.at("paths", "/onebot/v11/"+a.Name, "post", "responses", "200"))
	schema := d.deref(mapAt(resp, "content", "application/json", "schema"))
	parts, _ := schema["allOf"].([]any)
	for _, p := range parts {
		part, _ := p.(map[string]any)
		for _, branch := range []map[string]any{part, mapAt(part, "else")} {
			if data := mapAt(branch, "properties", "data"); data != nil {
				return data
			}
		}
	}
	return nil
}

func mapAt(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		if m == nil {
			return nil
		}
		m, _ = m[k].(map[string]any)
	}
	return m
}

var (
	anyType    = reflect.TypeFor[any]()
	noDataType = reflect.TypeFor[*noData]()
	// sharedResults are wire types of a face's codec that serve several kinds of frame (a v12
	// Event is a message or a meta event): an action documents the fields its kind carries, and
	// each documented field must be one of the type with its type (apischema.CompareSubset).
	sharedResults = map[reflect.Type]bool{reflect.TypeFor[*ob12.Event](): true, reflect.TypeFor[*ob11.Event](): true}
)

// The params each action's handler decodes and the data it answers (the Go types its row in the
// action table carries) agree with api/openapi.yaml field by field: every property's JSON name,
// its type — through nested objects and arrays — and whether it is required (a Go field is
// optional when omitempty); actions that share a params type document the same fields. No
// action answers untyped data (any): its result is a struct, a slice or noData (null).
func TestOpenAPISchemasAreTheGoTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	for i := range actionTable {
		a := &actionTable[i]
		name := fmt.Sprintf("v%d %s", a.Version, a.Name)
		spec, ok := doc.params(a)
		if !ok {
			t.Errorf("%s: not in api/openapi.yaml", name)
			continue
		}
		switch p := a.Handle.Params; {
		case p == nil:
			if props, _ := spec["properties"].(map[string]any); len(props) > 0 {
				t.Errorf("%s: the spec documents params %v, the handler decodes none", name, sortedKeys(props))
			}
		default:
			for _, d := range apischema.Compare(name+" params", spec, p, doc.resolve) {
				t.Error(d)
			}
		}

		data := doc.data(a)
		switch r := a.Handle.Result; {
		case data == nil:
			t.Errorf("%s: api/openapi.yaml does not say what it answers", name)
		case r == anyType || r == nil:
			t.Errorf("%s: the handler answers untyped data (any); give it a result type", name)
		case r == noDataType:
			if data["type"] != "null" {
				t.Errorf("%s: the handler answers null, the spec %v", name, data)
			}
		case sharedResults[r]:
			for _, d := range apischema.CompareSubset(name+" data", data, r, doc.resolve) {
				t.Error(d)
			}
		default:
			for _, d := range apischema.Compare(name+" data", data, r, doc.resolve) {
				t.Error(d)
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

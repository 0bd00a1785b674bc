package gateway

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/matrix-onebot/gateway/api"
	"github.com/matrix-onebot/gateway/internal/apischema"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// openAPIDoc is api/openapi.yaml with the lookups of the OneBot faces (apischema.Doc holds those
// every face's check shares).
type openAPIDoc struct{ apischema.Doc }

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	d, err := apischema.Load(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return openAPIDoc{d}
}

// v12Schema is the request schema of a v12 action (x-onebot-action).
func (d openAPIDoc) v12Schema(name string) map[string]any {
	for _, s := range d.At("components", "schemas") {
		if m, _ := s.(map[string]any); m["x-onebot-action"] == name {
			return m
		}
	}
	return nil
}

// params is the schema of an action's params; ok false when the action is not documented.
func (d openAPIDoc) params(a *action) (apischema.Spec, bool) {
	if a.Version == 11 {
		op := d.Operation("/onebot/v11/"+a.Name, "post")
		if op == nil {
			return nil, false
		}
		return d.RequestSchema(op, "application/json"), true
	}
	s := d.v12Schema(a.Name)
	if s == nil {
		return nil, false
	}
	return d.Deref(apischema.MapAt(s, "properties", "params")), true
}

// data is the schema of an action's data: v12 x-onebot-data; v11 the data property of its 200
// response (in an allOf part, or its else branch after the V11Failed check).
func (d openAPIDoc) data(a *action) apischema.Spec {
	if a.Version == 12 {
		s, _ := d.v12Schema(a.Name)["x-onebot-data"].(map[string]any)
		return s
	}
	schema := d.ResponseSchema(d.Operation("/onebot/v11/"+a.Name, "post"), "200", "application/json")
	parts, _ := schema["allOf"].([]any)
	for _, p := range parts {
		part, _ := p.(map[string]any)
		for _, branch := range []map[string]any{part, apischema.MapAt(part, "else")} {
			if data := apischema.MapAt(branch, "properties", "data"); data != nil {
				return data
			}
		}
	}
	return nil
}

var (
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
		for _, d := range apischema.CheckParams(name, spec, a.Handle.Params, doc.Resolve) {
			t.Error(d)
		}
		data := doc.data(a)
		if r := a.Handle.Result; r == noDataType && data != nil {
			if data["type"] != "null" {
				t.Errorf("%s: the handler answers null, the spec %v", name, data)
			}
			continue
		}
		for _, d := range apischema.CheckResult(name, data, a.Handle.Result, sharedResults[a.Handle.Result], doc.Resolve) {
			t.Error(d)
		}
	}
}

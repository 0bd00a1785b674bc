package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/matrix-onebot/gateway/api"
)

var errProbed = errors.New("params probed")

// paramsTypeOf runs an action with a params probe and returns the Go type its handler decodes
// the params into (nil: it decodes none).
func paramsTypeOf(t *testing.T, h *Hub, a *action) (typ reflect.Type) {
	t.Helper()
	c := &call{ctx: withHTTPTransport(context.Background()), hub: h, version: a.Version, params: json.RawMessage(`{}`)}
	if a.NeedsBot {
		c.bot = h.reg.defaultBot()
	}
	c.paramsProbe = func(v any) error {
		typ = reflect.TypeOf(v).Elem()
		return errProbed
	}
	_, _ = a.Handle(c)
	return typ
}

// jsonFields lists the JSON fields of a params struct, by name, with their Go types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
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
		out[name] = f.Type
	}
	return out
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// typeMatches reports whether a value of the JSON schema's type decodes into Go type typ.
func typeMatches(schema map[string]any, typ reflect.Type) bool {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == rawMessageType || typ.Kind() == reflect.Interface {
		return true // any JSON
	}
	want, _ := schema["type"].(string)
	if want == "" {
		return false // the spec allows any JSON; the code takes only one kind
	}
	switch want {
	case "string":
		return typ.Kind() == reflect.String
	case "integer":
		return typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64
	case "number":
		return typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Float64
	case "boolean":
		return typ.Kind() == reflect.Bool
	case "array":
		return typ.Kind() == reflect.Slice
	case "object":
		return typ.Kind() == reflect.Map || typ.Kind() == reflect.Struct
	}
	return false
}

// The params each action's handler decodes (its Go params struct, read from the handler itself)
// and the params api/openapi.yaml documents agree: every documented param is a field of the
// struct with a matching JSON type, and when the struct serves that one action, every field is
// documented (a struct several actions share: by one of them at least). So the spec cannot
// promise a param the code ignores or types differently, nor leave out one the code reads.
func TestOpenAPIParamsAreTheHandlersStructs(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema map[string]any `yaml:"schema"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"paths"`
		Components struct {
			Schemas map[string]map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			return doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		}
		return s
	}
	propsOf := func(s map[string]any) map[string]map[string]any {
		out := map[string]map[string]any{}
		ps, _ := resolve(s)["properties"].(map[string]any)
		for k, v := range ps {
			m, _ := v.(map[string]any)
			out[k] = resolve(m)
		}
		return out
	}
	specParams := func(a *action) (map[string]map[string]any, bool) {
		if a.Version == 11 {
			op, ok := doc.Paths["/onebot/v11/"+a.Name]["post"]
			if !ok {
				return nil, false
			}
			return propsOf(op.RequestBody.Content["application/json"].Schema), true
		}
		for _, s := range doc.Components.Schemas {
			if s["x-onebot-action"] == a.Name {
				props, _ := s["properties"].(map[string]any)
				params, _ := props["params"].(map[string]any)
				return propsOf(params), true
			}
		}
		return nil, false
	}

	h, _, _ := newTestHub(t, "")
	h.opts.EventBuffer = 1
	types := map[*action]reflect.Type{}
	users := map[reflect.Type]int{}
	for i := range actionTable {
		a := &actionTable[i]
		types[a] = paramsTypeOf(t, h, a)
		if types[a] != nil {
			users[types[a]]++
		}
	}
	documented := map[reflect.Type]map[string]bool{} // fields of shared structs some action documents
	for i := range actionTable {
		a := &actionTable[i]
		name := fmt.Sprintf("v%d %s", a.Version, a.Name)
		spec, ok := specParams(a)
		if !ok {
			t.Errorf("%s: not in api/openapi.yaml", name)
			continue
		}
		typ := types[a]
		if typ == nil {
			if len(spec) > 0 {
				t.Errorf("%s: the spec documents params %v, the handler decodes none", name, sortedKeys(spec))
			}
			continue
		}
		fields := jsonFields(typ)
		for param, schema := range spec {
			f, ok := fields[param]
			if !ok {
				t.Errorf("%s: the spec documents param %q, which %s lacks", name, param, typ)
				continue
			}
			if !typeMatches(schema, f) {
				t.Errorf("%s: param %q is %v in the spec but %s (%s) in the code", name, param, schema["type"], f, typ)
			}
		}
		if users[typ] == 1 {
			for field := range fields {
				if _, ok := spec[field]; !ok {
					t.Errorf("%s: the handler reads param %q (%s), which the spec does not document", name, field, typ)
				}
			}
			continue
		}
		if documented[typ] == nil {
			documented[typ] = map[string]bool{}
		}
		for param := range spec {
			documented[typ][param] = true
		}
	}
	for typ, params := range documented {
		for field := range jsonFields(typ) {
			if !params[field] {
				t.Errorf("%s: field %q is read by %d actions and documented by none of them", typ, field, users[typ])
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

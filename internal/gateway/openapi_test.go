package gateway

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/matrix-onebot/gateway/api"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// The OpenAPI document and the action table must list the same actions: v11 actions as paths
// /onebot/v11/{name} with x-onebot-action, v12 actions as request schemas in the oneOf of
// POST /onebot/v12/, each with x-onebot-action and x-onebot-data.
func TestOpenAPIMatchesActionTable(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Action      string `yaml:"x-onebot-action"`
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						OneOf []struct {
							Ref string `yaml:"$ref"`
						} `yaml:"oneOf"`
					} `yaml:"schema"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Action     string         `yaml:"x-onebot-action"`
				Data       map[string]any `yaml:"x-onebot-data"`
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}

	var specV11 []string
	for path, ops := range doc.Paths {
		name, ok := strings.CutPrefix(path, "/onebot/v11/")
		if !ok {
			continue
		}
		op, ok := ops["post"]
		if !ok || op.Action != name {
			t.Errorf("%s: want a post operation with x-onebot-action %q", path, name)
		}
		specV11 = append(specV11, name)
	}
	var specV12 []string
	for _, ref := range doc.Paths["/onebot/v12/"]["post"].RequestBody.Content["application/json"].Schema.OneOf {
		name := strings.TrimPrefix(ref.Ref, "#/components/schemas/")
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("%s: no such schema", ref.Ref)
			continue
		}
		if s.Action == "" || s.Data == nil || s.Properties["params"] == nil {
			t.Errorf("%s: want x-onebot-action, x-onebot-data and params", name)
		}
		specV12 = append(specV12, s.Action)
	}
	sort.Strings(specV11)
	sort.Strings(specV12)
	if got, want := strings.Join(specV11, ","), strings.Join(supportedActions(11), ","); got != want {
		t.Errorf("v11 actions in api/openapi.yaml: %s\n                  in the action table: %s", got, want)
	}
	if got, want := strings.Join(specV12, ","), strings.Join(supportedActions(12), ","); got != want {
		t.Errorf("v12 actions in api/openapi.yaml: %s\n                  in the action table: %s", got, want)
	}
}

// The params of these actions in api/openapi.yaml are exactly the JSON fields their handlers
// decode (so an option such as encrypted is documented where it is served).
func TestOpenAPIParamsMatchHandlers(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Action     string `yaml:"x-onebot-action"`
				Properties struct {
					Params struct {
						Properties map[string]any `yaml:"properties"`
					} `yaml:"params"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	for action, params := range map[string]any{
		"matrix.react":       onebot.ReactParams{},
		"matrix.create_room": onebot.CreateRoomParams{},
	} {
		var spec []string
		for _, s := range doc.Components.Schemas {
			if s.Action == action {
				for name := range s.Properties.Params.Properties {
					spec = append(spec, name)
				}
			}
		}
		var code []string
		typ := reflect.TypeOf(params)
		for i := range typ.NumField() {
			if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
				code = append(code, name)
			}
		}
		sort.Strings(spec)
		sort.Strings(code)
		if got, want := strings.Join(spec, ","), strings.Join(code, ","); got != want {
			t.Errorf("%s params in api/openapi.yaml: %s\n                  decoded by the handler: %s", action, got, want)
		}
	}
}

// An unquoted ", " inside a flow mapping ({description: a, b}) silently makes a key "b" with
// no value; openapi-spec-validator refuses such a document (test/e2e/openapi_test.go runs it),
// and this catches the mistake without Python. A key may be null only when written as null.
func TestOpenAPIHasNoKeysWithoutValue(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(api.OpenAPI, &root); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && v.Tag == "!!null" && v.Value == "" {
					t.Errorf("api/openapi.yaml:%d: key %q has no value (an unquoted comma in a flow mapping?)", k.Line, k.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
}

package apischema

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix/id"
)

type member struct {
	UserID id.UserID `json:"user_id"`
	Role   string    `json:"role"`
	Card   string    `json:"card,omitempty"`
}

type embedded struct {
	Extra int64 `json:"matrix.extra,omitempty"`
}

type result struct {
	embedded
	GroupID  string            `json:"group_id"`
	Count    int               `json:"count"`
	Ratio    float64           `json:"ratio,omitempty"`
	Members  []member          `json:"members"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	When     time.Time         `json:"when,omitempty"`
	Blob     []byte            `json:"blob,omitempty"`
	Optional *bool             `json:"optional,omitempty"`
	private  string
	Skipped  string `json:"-"`
}

const resultSpec = `
type: object
required: [group_id, count, members]
properties:
  group_id: {type: string}
  count: {type: integer}
  ratio: {type: number}
  members: {type: array, items: {$ref: "#/components/schemas/Member"}}
  raw: {description: any JSON}
  labels: {type: object, additionalProperties: {type: string}}
  when: {type: string, format: date-time}
  blob: {type: string}
  optional: {type: boolean}
  matrix.extra: {type: integer}
`

const memberSpec = `
type: object
required: [user_id, role]
properties:
  user_id: {type: string}
  role: {type: string, enum: [owner, admin, member]}
  card: {type: string}
`

func parse(t *testing.T, doc string) Spec {
	t.Helper()
	var s Spec
	if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func resolver(t *testing.T) Resolver {
	member := parse(t, memberSpec)
	return func(ref string) Spec {
		if ref == "#/components/schemas/Member" {
			return member
		}
		return nil
	}
}

func TestCompareAgrees(t *testing.T) {
	if diffs := Compare("r", parse(t, resultSpec), reflect.TypeFor[result](), resolver(t)); len(diffs) > 0 {
		t.Errorf("differences where there are none:\n%s", strings.Join(diffs, "\n"))
	}
	// What Generate writes is what Compare accepts.
	gen, err := yaml.Marshal(Generate(reflect.TypeFor[result]()))
	if err != nil {
		t.Fatal(err)
	}
	if diffs := Compare("generated", parse(t, string(gen)), reflect.TypeFor[result](), nil); len(diffs) > 0 {
		t.Errorf("the generated schema differs:\n%s\n%s", gen, strings.Join(diffs, "\n"))
	}
}

// Each kind of drift between the document and the code is reported, with where it is.
func TestCompareFindsDrift(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"field missing from the document", "  ratio: {type: number}\n", "", `r: apischema.result has "ratio"`},
		{"property missing from the code", "  ratio: {type: number}\n", "  ratio: {type: number}\n  gone: {type: string}\n", `r: the document has "gone"`},
		{"type differs", "  count: {type: integer}", "  count: {type: string}", `r.count: string in the document, integer`},
		{"integer is not a number's place", "  ratio: {type: number}", "  ratio: {type: integer}", `r.ratio: integer in the document, number`},
		{"required in the code only", "required: [group_id, count, members]", "required: [group_id, members]", `r.count: required in the code`},
		{"required in the document only", "required: [group_id, count, members]", "required: [group_id, count, members, ratio]", `r.ratio: required in the document`},
		{"required but undescribed", "required: [group_id, count, members]", "required: [group_id, count, members, nope]", `requires "nope"`},
		{"nested through a $ref", `{$ref: "#/components/schemas/Member"}`, `{type: object, required: [user_id, role], properties: {user_id: {type: string}, role: {type: string}}}`, `r.members[]: apischema.member has "card"`},
		{"array items unsaid", `members: {type: array, items: {$ref: "#/components/schemas/Member"}}`, `members: {type: array}`, `r.members: the document does not say`},
		{"map values", "additionalProperties: {type: string}", "additionalProperties: {type: integer}", `r.labels{}: integer in the document`},
		{"any JSON in the document", "  count: {type: integer}", "  count: {description: anything}", `r.count: the document allows any JSON`},
	} {
		doc := strings.Replace(resultSpec, tc.from, tc.to, 1)
		if doc == resultSpec {
			t.Fatalf("%s: the replacement does not apply", tc.name)
		}
		diffs := Compare("r", parse(t, doc), reflect.TypeFor[result](), resolver(t))
		if !strings.Contains(strings.Join(diffs, "\n"), tc.want) {
			t.Errorf("%s: differences %q, want one containing %q", tc.name, diffs, tc.want)
		}
	}
}

// allOf parts add up; oneOf matches when one branch does; an unknown $ref is reported.
func TestCompareCombinators(t *testing.T) {
	type p struct {
		A string `json:"a"`
		B int    `json:"b,omitempty"`
	}
	ok := `allOf: [{type: object, required: [a], properties: {a: {type: string}}}, {properties: {b: {type: integer}}}]`
	if diffs := Compare("p", parse(t, ok), reflect.TypeFor[p](), nil); len(diffs) > 0 {
		t.Errorf("allOf: %q", diffs)
	}
	one := `oneOf: [{type: string}, {type: object, required: [a], properties: {a: {type: string}, b: {type: integer}}}]`
	if diffs := Compare("p", parse(t, one), reflect.TypeFor[p](), nil); len(diffs) > 0 {
		t.Errorf("oneOf: %q", diffs)
	}
	none := `oneOf: [{type: string}, {type: array}]`
	if diffs := Compare("p", parse(t, none), reflect.TypeFor[p](), nil); len(diffs) != 1 || !strings.Contains(diffs[0], "matches no branch") {
		t.Errorf("oneOf without a match: %q", diffs)
	}
	if diffs := Compare("p", parse(t, `{$ref: "#/nowhere"}`), reflect.TypeFor[p](), func(string) Spec { return nil }); len(diffs) != 1 {
		t.Errorf("unknown $ref: %q", diffs)
	}
}

func TestFieldsAndJSONType(t *testing.T) {
	fields := Fields(reflect.TypeFor[result]())
	var names []string
	for _, n := range sortedKeys(fields) {
		names = append(names, n)
	}
	if got, want := strings.Join(names, ","), "blob,count,group_id,labels,matrix.extra,members,optional,ratio,raw,when"; got != want {
		t.Errorf("fields %s, want %s", got, want)
	}
	if !fields["group_id"].Required || fields["ratio"].Required || fields["matrix.extra"].Required {
		t.Errorf("required-ness wrong: %+v", fields)
	}
	for typ, want := range map[reflect.Type]string{
		reflect.TypeFor[id.UserID](): "string", reflect.TypeFor[*int32](): "integer", reflect.TypeFor[uint8](): "integer",
		reflect.TypeFor[[]byte](): "string", reflect.TypeFor[[]string](): "array", reflect.TypeFor[time.Time](): "",
		reflect.TypeFor[any](): "", reflect.TypeFor[json.RawMessage](): "", reflect.TypeFor[map[string]any](): "object",
	} {
		if got := JSONType(typ); got != want {
			t.Errorf("JSONType(%s) = %q, want %q", typ, got, want)
		}
	}
}

// A struct several operations share: each documents the fields it reads, with their types.
func TestCompareSubset(t *testing.T) {
	doc := parse(t, `{type: object, required: [group_id], properties: {group_id: {type: string}, count: {type: integer}}}`)
	if diffs := CompareSubset("r", doc, reflect.TypeFor[result](), resolver(t)); len(diffs) > 0 {
		t.Errorf("a documented subset: %q", diffs)
	}
	if diffs := Compare("r", doc, reflect.TypeFor[result](), resolver(t)); len(diffs) == 0 {
		t.Error("Compare accepts a subset")
	}
	bad := parse(t, `{type: object, properties: {group_id: {type: integer}, nope: {type: string}}}`)
	if diffs := CompareSubset("r", bad, reflect.TypeFor[result](), resolver(t)); len(diffs) != 2 {
		t.Errorf("a wrong type and an unknown property: %q", diffs)
	}
}

const docYAML = `
paths:
  /v1/thing.get:
    post:
      requestBody: {content: {application/json: {schema: {$ref: "#/components/schemas/Params"}}}}
      responses:
        "200": {$ref: "#/components/responses/Thing"}
  /v1/thing.none:
    post:
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: object, properties: {}}}}}
  /other: {get: {}}
components:
  schemas:
    Params: {type: object, required: [group_id], properties: {group_id: {type: string}}}
    Member: {type: object, required: [user_id, role], properties: {user_id: {type: string}, role: {type: string}, card: {type: string}}}
  responses:
    Thing: {description: ok, content: {application/json: {schema: {$ref: "#/components/schemas/Member"}}}}
`

// Doc finds an operation's request and response schemas through $refs, and lists paths.
func TestDocLookups(t *testing.T) {
	d, err := Load([]byte(docYAML))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.Paths("/v1/"), ","); got != "/v1/thing.get,/v1/thing.none" {
		t.Errorf("Paths: %s", got)
	}
	op := d.Operation("/v1/thing.get", "post")
	type params struct {
		GroupID string `json:"group_id"`
	}
	if diffs := CheckParams("thing.get", d.RequestSchema(op, "application/json"), reflect.TypeFor[params](), d.Resolve); len(diffs) > 0 {
		t.Errorf("params: %q", diffs)
	}
	if diffs := CheckResult("thing.get", d.ResponseSchema(op, "200", "application/json"), reflect.TypeFor[member](), false, d.Resolve); len(diffs) > 0 {
		t.Errorf("result: %q", diffs)
	}
	if d.Operation("/v1/nothing", "post") != nil || d.RequestSchema(d.Operation("/v1/thing.none", "post"), "application/json") != nil {
		t.Error("a missing operation or request body must be nil")
	}
	if _, err := Load([]byte("a: [")); err == nil {
		t.Error("Load accepts broken YAML")
	}
}

// CheckParams and CheckResult report what the document and the handler's types disagree on.
func TestCheckParamsAndResult(t *testing.T) {
	d, err := Load([]byte(docYAML))
	if err != nil {
		t.Fatal(err)
	}
	get, none := d.Operation("/v1/thing.get", "post"), d.Operation("/v1/thing.none", "post")
	type wider struct {
		GroupID string `json:"group_id"`
		Extra   int    `json:"extra,omitempty"`
	}
	for _, tc := range []struct {
		name  string
		diffs []string
		want  string
	}{
		{"a params field undocumented", CheckParams("p", d.RequestSchema(get, "application/json"), reflect.TypeFor[wider](), d.Resolve), `has "extra"`},
		{"params documented, none decoded", CheckParams("p", d.RequestSchema(get, "application/json"), nil, d.Resolve), "the handler decodes none"},
		{"params decoded, none documented", CheckParams("p", d.RequestSchema(none, "application/json"), reflect.TypeFor[wider](), d.Resolve), "describes no request body"},
		{"no answer documented", CheckResult("r", nil, reflect.TypeFor[member](), false, d.Resolve), "does not say what it answers"},
		{"an untyped answer", CheckResult("r", d.ResponseSchema(get, "200", "application/json"), reflect.TypeFor[any](), false, d.Resolve), "untyped data"},
		{"a result field the type lacks", CheckResult("r", d.ResponseSchema(get, "200", "application/json"), reflect.TypeFor[wider](), false, d.Resolve), `the document has "card"`},
	} {
		if !strings.Contains(strings.Join(tc.diffs, "\n"), tc.want) {
			t.Errorf("%s: %q, want one containing %q", tc.name, tc.diffs, tc.want)
		}
	}
	// A shared type: fields the document leaves out are allowed, unknown ones are not.
	if diffs := CheckResult("r", d.ResponseSchema(get, "200", "application/json"), reflect.TypeFor[member](), true, d.Resolve); len(diffs) > 0 {
		t.Errorf("subset: %q", diffs)
	}
}

package satori

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/api"
	"github.com/matrix-onebot/gateway/internal/apischema"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// satoriAPI is where api/openapi.yaml documents the face: GATEWAY_SATORI_PATH's default.
const satoriAPI = "/satori/v1/"

func loadDoc(t *testing.T) apischema.Doc {
	t.Helper()
	d, err := apischema.Load(api.OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	return d
}

// servedStatuses are the statuses the API answers besides 200: those of serveAPI itself (400 a
// platform other than matrix, several bots without Satori-User-ID or a body that is not JSON;
// 401 no token; 403 a wrong token or another bot's; 404 no such bot; 413 a body over its limit;
// 429 too many wrong tokens; 503 the process's request bytes are full) and every status an
// action error maps to (statusOf).
func servedStatuses() []int {
	set := map[int]bool{400: true, 401: true, 403: true, 404: true, 413: true, 429: true, 503: true}
	for k := model.ErrInternal; k <= model.ErrGone; k++ {
		set[statusOf(&model.ActionError{Kind: k})] = true
		for code := range refusalStatus {
			set[statusOf(&model.ActionError{Kind: k, MatrixErr: code})] = true
		}
	}
	set[statusOf(errors.New("not an action error"))] = true
	var out []int
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// The Satori API in api/openapi.yaml is the method table: every served method is documented as
// POST /satori/v1/{method} with x-satori-method, and only those; its JSON body is its params
// type and its 200 answer its result type, field by field (the check of the OneBot faces,
// apischema); each answers the statuses the face really answers, with the face's error body.
func TestOpenAPIDocumentsTheMethods(t *testing.T) {
	doc := loadDoc(t)
	statuses := servedStatuses()
	var names []string
	for name := range resources {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := resources[name]
		op := doc.Operation(satoriAPI+name, "post")
		if op == nil {
			t.Errorf("%s is served but api/openapi.yaml has no POST %s%s", name, satoriAPI, name)
			continue
		}
		if op["x-satori-method"] != name {
			t.Errorf("%s: x-satori-method is %v", name, op["x-satori-method"])
		}
		if m.multipart {
			if doc.RequestSchema(op, "multipart/form-data") == nil {
				t.Errorf("%s: its body is multipart/form-data, the document says otherwise", name)
			}
		} else {
			for _, d := range apischema.CheckParams(name, doc.RequestSchema(op, "application/json"), m.params, doc.Resolve) {
				t.Error(d)
			}
		}
		for _, d := range apischema.CheckResult(name, doc.ResponseSchema(op, "200", "application/json"), m.result, false, doc.Resolve) {
			t.Error(d)
		}
		var documented []int
		for code := range apischema.MapAt(op, "responses") {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q is not a status", name, code)
				continue
			}
			documented = append(documented, n)
			if n != http.StatusOK && doc.ResponseSchema(op, code, "application/json") == nil {
				t.Errorf("%s: response %d has no JSON error body", name, n)
			}
		}
		sort.Ints(documented)
		if want := append([]int{http.StatusOK}, statuses...); !slices.Equal(documented, want) {
			t.Errorf("%s: statuses in api/openapi.yaml %v, the face answers %v", name, documented, want)
		}
	}
	for _, path := range doc.Paths(satoriAPI) {
		name := strings.TrimPrefix(path, satoriAPI)
		if _, ok := resources[name]; !ok {
			t.Errorf("api/openapi.yaml documents %s, which the face does not serve", path)
		}
	}
}

// The face's error body and its login (READY's, login.get's) are the document's schemas.
func TestOpenAPISatoriSchemas(t *testing.T) {
	doc := loadDoc(t)
	for name, typ := range map[string]reflect.Type{
		"SatoriError": reflect.TypeFor[apiError](),
		"SatoriLogin": reflect.TypeFor[Login](),
	} {
		spec := doc.Resolve("#/components/schemas/" + name)
		if spec == nil {
			t.Errorf("api/openapi.yaml has no schema %s", name)
			continue
		}
		for _, d := range apischema.Compare(name, spec, typ, doc.Resolve) {
			t.Error(d)
		}
	}
}

// A homeserver refusal of what the client asked for is the client's error (4xx), not a server
// error: Schemathesis found user.get with a malformed user ID answered 502 (M_INVALID_PARAM).
func TestStatusOfHomeserverRefusals(t *testing.T) {
	for code, want := range map[string]int{
		"M_INVALID_PARAM": http.StatusBadRequest, "M_BAD_JSON": http.StatusBadRequest, "M_NOT_JSON": http.StatusBadRequest,
		"M_MISSING_PARAM": http.StatusBadRequest, "M_NOT_FOUND": http.StatusNotFound, "M_FORBIDDEN": http.StatusForbidden,
		"M_TOO_LARGE": http.StatusRequestEntityTooLarge, "M_UNKNOWN": http.StatusBadGateway, "": http.StatusBadGateway,
	} {
		if got := statusOf(&model.ActionError{Kind: model.ErrPlatform, MatrixErr: code}); got != want {
			t.Errorf("a homeserver refusal %q answers %d, want %d", code, got, want)
		}
	}
}

// Any body to any served method is answered, never a panic, with a status api/openapi.yaml
// documents for it and a JSON body ({"message"} when it is an error).
func FuzzAPIMethods(f *testing.F) {
	var names []string
	for name := range resources {
		names = append(names, name)
	}
	sort.Strings(names)
	room := string(fakes.FakeRoom)
	for i := range names {
		f.Add(uint8(i), `{}`)
		f.Add(uint8(i), `{"channel_id":"`+room+`","guild_id":"`+room+`","user_id":"@a:b","message_id":"$e","emoji_id":"👍","content":"hi","duration":0,"approve":true}`)
	}
	f.Add(uint8(0), `{"user_id":1}`)
	f.Add(uint8(3), `[`)
	f.Add(uint8(7), `{"limit":-1,"direction":"around"}`)
	statuses := map[int]bool{http.StatusOK: true}
	for _, s := range servedStatuses() {
		statuses[s] = true
	}
	bot := fakes.NewFakeBot("@bot:example.org")
	face := New(Options{Host: &fakeHost{bots: []model.Bot{bot}}})
	h := face.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		name := names[int(which)%len(names)]
		req := httptest.NewRequest(http.MethodPost, "/v1/"+name, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !statuses[rec.Code] {
			t.Fatalf("%s %q answered %d, which api/openapi.yaml does not document", name, body, rec.Code)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %q answered %d with a body that is not JSON: %q", name, body, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			return
		}
		var e apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
			t.Fatalf("%s %q answered %d without a message: %q", name, body, rec.Code, rec.Body)
		}
	})
}

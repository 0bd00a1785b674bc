package matrix

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// eventVector is one testdata/events/*.json file: a Matrix event (and what the message index
// knows) → the model value it becomes, or null with the reason it is dropped.
type eventVector struct {
	Description string          `json:"description"`
	OrigSender  id.UserID       `json:"orig_sender,omitempty"` // sender of the edited message in the index
	Event       json.RawMessage `json:"event"`
	Want        json.RawMessage `json:"want,omitempty"`
	Dropped     string          `json:"dropped,omitempty"`
}

// convertVector runs the pure conversion for the vector's event type.
func convertVector(t *testing.T, v eventVector) (any, string) {
	t.Helper()
	var evt event.Event
	if err := json.Unmarshal(v.Event, &evt); err != nil {
		t.Fatal(err)
	}
	evt.RoomID = "!room:x"
	evt.Type.Class = eventClass(&evt)
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		t.Fatal(err)
	}
	switch evt.Type {
	case event.StateMember:
		if mc := memberChange(&evt); mc != nil {
			return mc, ""
		}
		return nil, "no one joined or left"
	case event.EventMessage:
		content := evt.Content.AsMessage()
		edit, why := editOf(&evt, content, v.OrigSender, recipient{})
		if edit == nil {
			return nil, why
		}
		return edit, ""
	case event.EventRedaction:
		return map[string]id.EventID{"redacts": redactedID(&evt)}, ""
	}
	t.Fatalf("no conversion for %s", evt.Type.Type)
	return nil, ""
}

func TestEventVectors(t *testing.T) {
	files, _ := filepath.Glob("testdata/events/*.json")
	if len(files) == 0 {
		t.Fatal("no vectors")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var v eventVector
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			got, why := convertVector(t, v)
			gotJSON, _ := json.Marshal(got)
			if vectors.Updating() {
				v.Want, v.Dropped = gotJSON, why
				out, _ := json.MarshalIndent(v, "", "  ")
				if err := os.WriteFile(path, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if v.Want == nil {
				t.Fatal("vector has no want: run go test -update once")
			}
			var a, b bytes.Buffer
			_ = json.Compact(&a, gotJSON)
			_ = json.Compact(&b, v.Want)
			if a.String() != b.String() || why != v.Dropped {
				t.Errorf("%s\n got %s (dropped: %q)\nwant %s (dropped: %q)", v.Description, a.String(), why, b.String(), v.Dropped)
			}
		})
	}
}

// The room of a message is found in the message index; the path of a raw request stays under
// /_matrix/client/.
func TestCheckRawRequest(t *testing.T) {
	for _, tc := range []struct {
		req model.RawRequest
		ok  bool
	}{
		{model.RawRequest{Path: "/_matrix/client/v3/account/whoami"}, true},
		{model.RawRequest{Method: "put", Path: "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1", Body: json.RawMessage(`{"body":"x"}`)}, true},
		{model.RawRequest{Path: "/_synapse/admin/v1/users"}, false},
		{model.RawRequest{Path: "/_matrix/client/../../_synapse/admin/v1/users"}, false},
		{model.RawRequest{Path: "/_matrix/client/%2e%2e/%2e%2e/_synapse/admin"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3/x%2Fy"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3/sync?since=x"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3\\..\\x"}, false},
		{model.RawRequest{Path: "/_matrix/media/v3/download/x/y"}, false},
		{model.RawRequest{Method: "PATCH", Path: "/_matrix/client/v3/x"}, false},
		{model.RawRequest{Method: "POST", Path: "/_matrix/client/v3/x", Body: json.RawMessage(`{`)}, false},
	} {
		_, err := checkRawRequest(tc.req)
		if (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok=%v", tc.req, err, tc.ok)
		}
		if err != nil && model.KindOf(err) != model.ErrBadParam {
			t.Errorf("%+v: error kind %v, want bad param", tc.req, model.KindOf(err))
		}
	}
}

// A raw request path comes from an untrusted client: whatever passes the check resolves to a
// path under /_matrix/client/ on the homeserver.
func FuzzCheckRawRequest(f *testing.F) {
	for _, s := range []string{"/_matrix/client/v3/sync", "/_matrix/client/../x", "/_matrix/client/%2E%2E/x", "/_matrix/client//x", "/_matrix/client/v3/a/./b"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		if _, err := checkRawRequest(model.RawRequest{Method: method, Path: path}); err != nil {
			return
		}
		clean := filepath.Clean(path)
		if !strings.HasPrefix(clean+"/", rawPathPrefix) {
			t.Fatalf("%q passed the check but resolves to %q", path, clean)
		}
	})
}

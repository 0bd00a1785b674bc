package matrix

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot/v12"
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
	evt.Type.Class = syncapi.EventClass(&evt)
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
			gotJSON := marshalModel(t, got)
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
			if a, b := vectors.Canonical(t, gotJSON), vectors.Canonical(t, v.Want); a != b || why != v.Dropped {
				t.Errorf("%s\n got %s (dropped: %q)\nwant %s (dropped: %q)", v.Description, a, why, b, v.Dropped)
			}
		})
	}
}

// marshalModel marshals a model value for a vector, its typed segments (a Segments field) in
// their OneBot v12 form.
func marshalModel(t *testing.T, v any) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return raw
	}
	f := rv.Elem().FieldByName("Segments")
	if !f.IsValid() {
		return raw
	}
	segs, ok := f.Interface().([]model.Segment)
	if !ok {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["Segments"] = v12.EncodeSegments(segs)
	return vectors.Marshal(t, m)
}

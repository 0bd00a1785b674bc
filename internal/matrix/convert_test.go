package matrix

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// parseVector is one testdata/parse/*.json file: Matrix message content → segments and plain text.
type parseVector struct {
	Description string                   `json:"description"`
	Replies     map[id.EventID]id.UserID `json:"replies,omitempty"`    // what the reply resolver knows
	Self        id.UserID                `json:"self,omitempty"`       // the bot that received it
	SelfNames   []string                 `json:"self_names,omitempty"` // its display name, localpart
	// OtherRoom are replied-to events that the resolver knows to be in another room.
	OtherRoom []id.EventID    `json:"other_room,omitempty"`
	Content   json.RawMessage `json:"content"`
	Want      *parseWant      `json:"want,omitempty"`
}

type parseWant struct {
	Segments json.RawMessage `json:"segments"`
	Plain    string          `json:"plain"`
}

// buildVector is one testdata/build/*.json file: segments → Matrix message content or an error.
type buildVector struct {
	Description  string               `json:"description"`
	DisplayNames map[id.UserID]string `json:"display_names,omitempty"`
	Segments     []v12.Segment        `json:"segments"` // in OneBot v12 form
	Want         *buildWant           `json:"want,omitempty"`
}

type buildWant struct {
	Content json.RawMessage `json:"content,omitempty"`
	Error   string          `json:"error,omitempty"` // the model.ErrorKind, by name
}

// testResolver is a reply resolver that knows the senders of replies and the events of another
// room; any other event counts as one of the same room whose sender is unknown.
func testResolver(replies map[id.EventID]id.UserID, otherRoom []id.EventID) replyResolver {
	return func(e id.EventID) (id.UserID, bool) {
		if slices.Contains(otherRoom, e) {
			return "", false
		}
		return replies[e], true
	}
}

// parseContent decodes a message content the way the sync loop does (event.Content.ParseRaw).
func parseContent(t testing.TB, raw json.RawMessage) *event.MessageEventContent {
	t.Helper()
	var c event.Content
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("content is not JSON: %v", err)
	}
	if err := c.ParseRaw(event.EventMessage); err != nil {
		t.Fatalf("content is not an m.room.message content: %v", err)
	}
	return c.AsMessage()
}

func TestMessageSegmentsVectors(t *testing.T) {
	vectors.Each(t, "parse", func(t *testing.T, path string, raw []byte) {
		var v parseVector
		vectors.DecodeStrict(t, raw, &v)
		content := parseContent(t, v.Content)
		segs, plain := messageSegments(content, testResolver(v.Replies, v.OtherRoom), recipient{id: v.Self, names: v.SelfNames})
		got := &parseWant{Segments: vectors.Marshal(t, v12.EncodeSegments(segs)), Plain: plain}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		vectors.AssertSameJSON(t, "segments", v.Want.Segments, got.Segments)
		if plain != v.Want.Plain {
			t.Errorf("plain = %q, want %q", plain, v.Want.Plain)
		}
		if strings.Contains(plain, pillMark) {
			t.Errorf("plain %q still holds the pill marker", plain)
		}
	})
}

func TestBuildContentVectors(t *testing.T) {
	vectors.Each(t, "build", func(t *testing.T, path string, raw []byte) {
		var v buildVector
		vectors.DecodeStrict(t, raw, &v)
		segs, err := v12.DecodeSegments(v.Segments) // as a v12 client's message is read
		var content *event.MessageEventContent
		if err == nil {
			content, err = buildContent(segs, func(u id.UserID) string { return v.DisplayNames[u] })
		}
		got := &buildWant{}
		if err != nil {
			got.Error = vectors.ErrorKind(t, err)
		} else {
			got.Content = vectors.Marshal(t, content)
		}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		if got.Error != v.Want.Error {
			t.Fatalf("error kind = %q (err %v), want %q", got.Error, err, v.Want.Error)
		}
		if v.Want.Error == "" {
			vectors.AssertSameJSON(t, "content", v.Want.Content, got.Content)
		}
	})
}

// TestBuildContentRoundTrip checks that what buildContent sends reads back as the same
// segments: a mention stays a mention (with the display name its pill showed), mention_all and
// the reply survive.
func TestBuildContentRoundTrip(t *testing.T) {
	names := map[id.UserID]string{"@alice:example.org": "Alice <3"}
	in := []model.Segment{
		model.Reply{Event: "$orig:example.org", Sender: "@bob:example.org"},
		model.Text{Text: "a < b & "},
		model.Mention{User: "@alice:example.org"},
		model.Text{Text: " see "},
		model.MentionAll{},
	}
	content, err := buildContent(in, func(u id.UserID) string { return names[u] })
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	segs, plain := messageSegments(parseContent(t, raw), testResolver(map[id.EventID]id.UserID{"$orig:example.org": "@bob:example.org"}, nil), recipient{})
	want := slices.Clone(in)
	want[2] = model.Mention{User: "@alice:example.org", Name: "Alice <3"} // the name the pill showed
	if !reflect.DeepEqual(segs, want) {
		t.Errorf("segments read back as %#v, want %#v", segs, want)
	}
	if wantPlain := "a < b & @alice:example.org see @room"; plain != wantPlain {
		t.Errorf("plain = %q, want %q", plain, wantPlain)
	}
}

package v12

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Each kind decodes from its JSON form into its own typed value and encodes back to exactly the
// bytes the gateway has always written (the keys sorted, a reply's empty user_id kept).
func TestSegmentJSONForm(t *testing.T) {
	for _, tc := range []struct {
		in    string
		typed model.Segment
		out   string // the JSON form written back; "" = the input
	}{
		{`{"type":"text","data":{"text":"hi, there"}}`, model.Text{Text: "hi, there"}, ``},
		{`{"type":"mention","data":{"user_id":"@alice:example.org"}}`, model.Mention{User: "@alice:example.org"}, ``},
		{`{"type":"mention_all","data":{}}`, model.MentionAll{}, ``},
		{`{"type":"reply","data":{"message_id":"$e:example.org","user_id":"@bob:example.org"}}`,
			model.Reply{Event: "$e:example.org", Sender: "@bob:example.org"}, ``},
		{`{"type":"reply","data":{"message_id":"$e:example.org"}}`, model.Reply{Event: "$e:example.org"},
			`{"type":"reply","data":{"message_id":"$e:example.org","user_id":""}}`},
		{`{"type":"image","data":{"file_id":"f1"}}`, model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "f1"}}, ``},
		{`{"type":"voice","data":{"file_id":"f2"}}`, model.Media{Kind: model.MediaVoice, File: model.FileInfo{ID: "f2"}}, ``},
		{`{"type":"audio","data":{"file_id":"f3"}}`, model.Media{Kind: model.MediaAudio, File: model.FileInfo{ID: "f3"}}, ``},
		{`{"type":"video","data":{"file_id":"f4"}}`, model.Media{Kind: model.MediaVideo, File: model.FileInfo{ID: "f4"}}, ``},
		// What a client may not set is not read: the matrix.* keys are the gateway's own output.
		{`{"type":"file","data":{"file_id":"f5","matrix.source":"file:///etc/passwd","matrix.name":"x"}}`,
			model.Media{Kind: model.MediaFile, File: model.FileInfo{ID: "f5"}}, `{"type":"file","data":{"file_id":"f5"}}`},
		{`{"type":"location","data":{"content":"","latitude":52.5,"longitude":13.4,"title":"Berlin"}}`,
			model.Location{Latitude: 52.5, Longitude: 13.4, Title: "Berlin"}, ``},
		{`{"type":"location","data":{"latitude":"-90","longitude":"180"}}`, model.Location{Latitude: -90, Longitude: 180},
			`{"type":"location","data":{"content":"","latitude":-90,"longitude":180,"title":""}}`},
	} {
		var wire Segment
		if err := json.Unmarshal([]byte(tc.in), &wire); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSegment(0, wire)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.typed) {
			t.Errorf("%s: decoded %#v, want %#v", tc.in, got, tc.typed)
		}
		if got.Type() != wire.Type {
			t.Errorf("%s: Type() = %q", tc.in, got.Type())
		}
		out, err := json.Marshal(EncodeSegment(got))
		if err != nil {
			t.Fatal(err)
		}
		want := tc.out
		if want == "" {
			want = tc.in
		}
		if string(out) != want {
			t.Errorf("%s: encoded %s, want %s", tc.in, out, want)
		}
	}
}

// What the Matrix side knows about a received file goes out in the matrix.* keys; a v11 client's
// source stays matrix.source until the file is stored.
func TestEncodeMediaSegment(t *testing.T) {
	for _, tc := range []struct {
		seg  model.Media
		want string
	}{
		{model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "f1", Name: "cat.png", MimeType: "image/png", Size: 1234, Width: 9}, URL: "https://gw/f1"},
			`{"type":"image","data":{"file_id":"f1","matrix.mimetype":"image/png","matrix.name":"cat.png","matrix.size":1234,"matrix.url":"https://gw/f1"}}`},
		{model.Media{Kind: model.MediaVoice, File: model.FileInfo{ID: "f2"}}, `{"type":"voice","data":{"file_id":"f2"}}`},
		{model.Media{Kind: model.MediaFile, Source: "https://example.org/a.txt", File: model.FileInfo{Name: "a.txt"}},
			`{"type":"file","data":{"matrix.name":"a.txt","matrix.source":"https://example.org/a.txt"}}`},
	} {
		out, err := json.Marshal(EncodeSegment(tc.seg))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tc.want {
			t.Errorf("%#v: encoded %s, want %s", tc.seg, out, tc.want)
		}
	}
	if out, _ := json.Marshal(EncodeSegments(nil)); string(out) != "[]" {
		t.Errorf("no segments encode as %s, want []", out)
	}
}

// Every malformed segment is refused with the kind of error the client is told, never a panic.
func TestDecodeSegmentErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind model.ErrorKind
	}{
		{`{"type":"text"}`, model.ErrBadSegmentData},
		{`{"type":"text","data":{"text":5}}`, model.ErrBadSegmentData},
		{`{"type":"mention","data":{"user_id":"alice"}}`, model.ErrBadSegmentData},
		{`{"type":"mention","data":{}}`, model.ErrBadSegmentData},
		{`{"type":"reply","data":{"message_id":"12"}}`, model.ErrBadSegmentData},
		{`{"type":"image","data":{"matrix.source":"https://example.org/a.png"}}`, model.ErrBadSegmentData},
		{`{"type":"location","data":{"latitude":91,"longitude":0}}`, model.ErrBadSegmentData},
		{`{"type":"location","data":{"latitude":"NaN","longitude":0}}`, model.ErrBadSegmentData},
		{`{"type":"location","data":{"latitude":0}}`, model.ErrBadSegmentData},
		{`{"type":"face","data":{"id":"1"}}`, model.ErrUnsupportedSegment},
	} {
		var wire Segment
		if err := json.Unmarshal([]byte(tc.in), &wire); err != nil {
			t.Fatal(err)
		}
		_, err := DecodeSegment(3, wire)
		if model.KindOf(err) != tc.kind {
			t.Errorf("%s: error %v, want kind %s", tc.in, err, tc.kind)
		}
	}
	if _, err := DecodeSegments([]Segment{{Type: "text", Data: map[string]any{"text": "ok"}}, {Type: "text"}}); model.KindOf(err) != model.ErrBadSegmentData {
		t.Errorf("a message with one bad segment: %v", err)
	}
}

// FuzzDecodeSegment: any segment a client sends either decodes or is refused with a segment
// error, and what decodes encodes to a form that decodes to the same typed value.
func FuzzDecodeSegment(f *testing.F) {
	for _, s := range []string{
		`{"type":"text","data":{"text":"hi"}}`, `{"type":"mention","data":{"user_id":"@a:b.c"}}`,
		`{"type":"mention_all","data":{}}`, `{"type":"reply","data":{"message_id":"$e","user_id":"@a:b"}}`,
		`{"type":"image","data":{"file_id":"f"}}`, `{"type":"location","data":{"latitude":"1e1","longitude":-3}}`,
		`{"type":"x","data":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var wire Segment
		if json.Unmarshal(raw, &wire) != nil {
			return
		}
		typed, err := DecodeSegment(0, wire)
		if err != nil {
			if k := model.KindOf(err); k != model.ErrBadSegmentData && k != model.ErrUnsupportedSegment {
				t.Fatalf("error kind %s: %v", k, err)
			}
			return
		}
		enc, err := json.Marshal(EncodeSegment(typed))
		if err != nil {
			t.Fatalf("%#v does not marshal: %v", typed, err)
		}
		var back Segment
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatal(err)
		}
		again, err := DecodeSegment(0, back)
		if err != nil {
			t.Fatalf("%s (from %s) does not decode: %v", enc, raw, err)
		}
		if !reflect.DeepEqual(again, typed) {
			t.Fatalf("%s: decoded %#v, then %#v", raw, typed, again)
		}
	})
}

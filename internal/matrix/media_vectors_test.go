package matrix

import (
	"encoding/json"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// mediaInVector is one testdata/media_in/*.json file: a received message content of any msgtype
// (media, location, notice, …) → segments and plain text. Every file gets the id "mtest" and the
// URL "https://gw.example/media/mtest?exp=1&sig=x".
type mediaInVector struct {
	Description string                   `json:"description"`
	Replies     map[id.EventID]id.UserID `json:"replies,omitempty"`
	OtherRoom   []id.EventID             `json:"other_room,omitempty"` // replied-to events of another room
	Self        id.UserID                `json:"self,omitempty"`       // the bot that received it
	Content     json.RawMessage          `json:"content"`
	Want        *parseWant               `json:"want,omitempty"`
}

// mediaOutVector is one testdata/media_out/*.json file: segments and send options → the
// m.room.message contents sent, in order, or an error kind.
type mediaOutVector struct {
	Description  string                 `json:"description"`
	DisplayNames map[id.UserID]string   `json:"display_names,omitempty"`
	Files        map[string]*fileRecord `json:"files,omitempty"` // by file id
	MsgType      string                 `json:"msgtype,omitempty"`
	Markdown     bool                   `json:"markdown,omitempty"`
	Segments     []v12.Segment          `json:"segments"` // in OneBot v12 form
	Want         *mediaOutWant          `json:"want,omitempty"`
}

type mediaOutWant struct {
	Contents json.RawMessage `json:"contents,omitempty"`
	Error    string          `json:"error,omitempty"`
}

const testFileURL = "https://gw.example/media/mtest?exp=1&sig=x"

func testIncomingEnv(replies map[id.EventID]id.UserID, otherRoom ...id.EventID) incomingEnv {
	return incomingEnv{
		reply: testResolver(replies, otherRoom),
		file: func(c *event.MessageEventContent) (model.FileInfo, string, bool) {
			if c.URL == "" && c.File == nil { // as Session.registerIncoming
				return model.FileInfo{}, "", false
			}
			info := model.FileInfo{ID: "mtest", Name: c.GetFileName()}
			if c.Info != nil {
				info.MimeType, info.Size = c.Info.MimeType, int64(c.Info.Size)
			}
			return info, testFileURL, true
		},
	}
}

func TestIncomingMediaVectors(t *testing.T) {
	vectors.Each(t, "media_in", func(t *testing.T, path string, raw []byte) {
		var v mediaInVector
		vectors.DecodeStrict(t, raw, &v)
		env := testIncomingEnv(v.Replies, v.OtherRoom...)
		env.self = recipient{id: v.Self}
		segs, plain := contentSegments(parseContent(t, v.Content), env)
		got := &parseWant{Segments: vectors.Marshal(t, v12.EncodeSegments(segs)), Plain: plain}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		vectors.AssertSameJSON(t, "segments", v.Want.Segments, got.Segments)
		if plain != v.Want.Plain {
			t.Errorf("plain = %q, want %q", plain, v.Want.Plain)
		}
	})
}

func TestOutgoingMediaVectors(t *testing.T) {
	vectors.Each(t, "media_out", func(t *testing.T, path string, raw []byte) {
		var v mediaOutVector
		vectors.DecodeStrict(t, raw, &v)
		segs, err := v12.DecodeSegments(v.Segments) // as a v12 client's message is read
		var contents []*event.MessageEventContent
		if err == nil {
			contents, err = buildContents(segs, outgoingEnv{
				displayName: func(u id.UserID) string { return v.DisplayNames[u] },
				file: func(fileID string) (*fileRecord, error) {
					if r := v.Files[fileID]; r != nil {
						return r, nil
					}
					return nil, model.Errorf(model.ErrNotFound, "unknown file %s", fileID)
				},
				msgType:  event.MessageType(v.MsgType),
				markdown: v.Markdown,
			})
		}
		got := &mediaOutWant{}
		if err != nil {
			got.Error = vectors.ErrorKind(t, err)
		} else {
			got.Contents = vectors.Marshal(t, contents)
		}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		if got.Error != v.Want.Error {
			t.Fatalf("error kind = %q (err %v), want %q", got.Error, err, v.Want.Error)
		}
		if v.Want.Error == "" {
			vectors.AssertSameJSON(t, "contents", v.Want.Contents, got.Contents)
		}
	})
}

// What buildContents sends for media and location reads back as the same segments.
func TestMediaRoundTrip(t *testing.T) {
	files := map[string]*fileRecord{"fimg": {Name: "cat.png", MimeType: "image/png", Size: 42, Width: 3, Height: 2, MXC: "mxc://example.org/cat"}}
	in := []model.Segment{
		model.Reply{Event: "$orig:example.org", Sender: "@bob:example.org"},
		model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "fimg"}},
		model.Location{Latitude: 52.5, Longitude: 13.4, Title: "Berlin"},
	}
	contents, err := buildContents(in, outgoingEnv{
		displayName: func(id.UserID) string { return "" },
		file:        func(f string) (*fileRecord, error) { return files[f], nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(contents) != 2 {
		t.Fatalf("got %d events, want one per segment (image, location)", len(contents))
	}
	raw, _ := json.Marshal(contents[0])
	segs, _ := contentSegments(parseContent(t, raw), testIncomingEnv(map[id.EventID]id.UserID{"$orig:example.org": "@bob:example.org"}))
	if len(segs) != 2 || segs[0] != in[0] {
		t.Fatalf("image read back as %+v", segs)
	}
	if m, ok := segs[1].(model.Media); !ok || m.Kind != model.MediaImage || m.File.MimeType != "image/png" {
		t.Fatalf("image read back as %+v", segs)
	}
	raw, _ = json.Marshal(contents[1])
	segs, _ = contentSegments(parseContent(t, raw), testIncomingEnv(nil))
	if len(segs) != 1 || segs[0] != in[2] {
		t.Fatalf("location read back as %+v", segs)
	}
}

func TestParseGeoURI(t *testing.T) {
	for _, c := range []struct {
		in       string
		lat, lon float64
		ok       bool
	}{
		{"geo:51.5008,0.1247", 51.5008, 0.1247, true},
		{"geo:-33.9,18.4;u=35", -33.9, 18.4, true},
		{"GEO:1,2,3", 1, 2, true},
		{"geo:91,0", 0, 0, false},
		{"geo:0,181", 0, 0, false},
		{"geo:NaN,0", 0, 0, false},
		{"geo:1", 0, 0, false},
		{"https://example.org", 0, 0, false},
	} {
		lat, lon, ok := parseGeoURI(c.in)
		if ok != c.ok || ok && (lat != c.lat || lon != c.lon) {
			t.Errorf("parseGeoURI(%q) = %v, %v, %v; want %v, %v, %v", c.in, lat, lon, ok, c.lat, c.lon, c.ok)
		}
	}
}

func FuzzParseGeoURI(f *testing.F) {
	for _, s := range []string{"geo:51.5,0.12", "geo:1,2,3;crs=wgs84", "geo:", "geo:,", "geo:1e400,0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lat, lon, ok := parseGeoURI(s)
		if ok && !model.ValidLatLon(lat, lon) {
			t.Fatalf("%q gave out-of-range %v, %v", s, lat, lon)
		}
	})
}

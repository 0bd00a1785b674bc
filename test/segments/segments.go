// Package segments reads the neutral segments that test vectors write in their OneBot v12 JSON
// form ({type, data}), with everything the gateway itself fills in: a media segment's
// matrix.url, matrix.name, matrix.mimetype, matrix.size and matrix.source. v12.DecodeSegments
// reads only what a client may send, so vectors of the gateway's own output need this reader.
package segments

import (
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	v12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// known are the data keys of each segment type; a vector with any other key fails, so that
// nothing in it is silently dropped.
var known = map[string][]string{
	model.SegText: {"text"}, model.SegMention: {"user_id"}, model.SegMentionAll: {}, model.SegReply: {"message_id", "user_id"},
	model.SegLocation: {"latitude", "longitude", "title", "content"},
}

var mediaKeys = []string{v12.DataFileID, v12.DataURL, v12.DataName, v12.DataMimeType, v12.DataSize, v12.DataSource}

// Read turns the segments of a vector into typed segments; an unknown type or data key fails
// the test.
func Read(t testing.TB, wire []v12.Segment) []model.Segment {
	t.Helper()
	out := make([]model.Segment, 0, len(wire))
	for i, s := range wire {
		str := func(key string) string { v, _ := s.Data[key].(string); return v }
		keys, ok := known[s.Type]
		var seg model.Segment
		switch s.Type {
		case model.SegText:
			seg = model.Text{Text: str("text")}
		case model.SegMention:
			seg = model.Mention{User: id.UserID(str("user_id"))}
		case model.SegMentionAll:
			seg = model.MentionAll{}
		case model.SegReply:
			seg = model.Reply{Event: id.EventID(str("message_id")), Sender: id.UserID(str("user_id"))}
		case model.SegImage, model.SegVoice, model.SegAudio, model.SegVideo, model.SegFile:
			keys, ok = mediaKeys, true
			size, _ := model.Number(s.Data[v12.DataSize])
			seg = model.Media{
				Kind: model.MediaKind(s.Type), URL: str(v12.DataURL), Source: str(v12.DataSource),
				File: model.FileInfo{ID: str(v12.DataFileID), Name: str(v12.DataName), MimeType: str(v12.DataMimeType), Size: int64(size)},
			}
		case model.SegLocation:
			lat, _ := model.Number(s.Data["latitude"])
			lon, _ := model.Number(s.Data["longitude"])
			seg = model.Location{Latitude: lat, Longitude: lon, Title: str("title"), Content: str("content")}
		}
		if !ok {
			t.Fatalf("segment %d: type %q is not a neutral segment", i, s.Type)
		}
	next:
		for k := range s.Data {
			for _, want := range keys {
				if k == want {
					continue next
				}
			}
			t.Fatalf("segment %d (%s): data key %q is not part of the neutral segment", i, s.Type, k)
		}
		out = append(out, seg)
	}
	return out
}

package v11

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Segment is a message segment in v11 form; data values are strings as in CQ codes.
type Segment struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// Self says which Matrix user is the bot on a v11 connection: its mentions become
// `at qq=<self_id>` (so that clients see to_me) and `at qq=<self_id>` means the bot.
type Self struct {
	User   id.UserID
	SelfID int64
}

// v11MediaTypes maps neutral media kinds to v11 names: v11 has no audio, so voice and audio
// are both `record`; `file` is an extension (as in go-cqhttp).
var v11MediaTypes = map[model.MediaKind]string{
	model.MediaImage: "image", model.MediaVoice: "record", model.MediaAudio: "record", model.MediaVideo: "video", model.MediaFile: "file",
}

// neutralMediaKinds is the other way round.
var neutralMediaKinds = map[string]model.MediaKind{
	"image": model.MediaImage, "record": model.MediaVoice, "video": model.MediaVideo, "file": model.MediaFile,
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ToSegments converts neutral segments to v11 ones, with the numbers of their Matrix IDs.
func ToSegments(n Numbers, segs []model.Segment) ([]Segment, error) {
	out := make([]Segment, 0, len(segs))
	for _, s := range segs {
		switch s := s.(type) {
		case model.Text:
			out = append(out, Segment{Type: "text", Data: map[string]any{"text": s.Text}})
		case model.Mention:
			num, err := nonEmpty(s.User, n.User)
			if err != nil {
				return nil, fmt.Errorf("failed to map mentioned user: %w", err)
			}
			out = append(out, Segment{Type: "at", Data: map[string]any{"qq": strconv.FormatInt(num, 10)}})
		case model.MentionAll:
			out = append(out, Segment{Type: "at", Data: map[string]any{"qq": "all"}})
		case model.Reply:
			num, err := nonEmpty(s.Event, n.Event)
			if err != nil {
				return nil, fmt.Errorf("failed to map replied event: %w", err)
			}
			out = append(out, Segment{Type: "reply", Data: map[string]any{"id": strconv.FormatInt(num, 10)}})
		case model.Media:
			d := map[string]any{"file": s.File.ID}
			if s.URL != "" {
				d["url"] = s.URL
			}
			if s.Kind == model.MediaFile {
				if s.File.Name != "" {
					d["name"] = s.File.Name
				}
				if s.File.Size > 0 {
					d["size"] = strconv.FormatInt(s.File.Size, 10)
				}
			}
			out = append(out, Segment{Type: v11MediaTypes[s.Kind], Data: d})
		case model.Location:
			out = append(out, Segment{Type: "location", Data: map[string]any{
				"lat": formatFloat(s.Latitude), "lon": formatFloat(s.Longitude), "title": s.Title, "content": s.Content,
			}})
		}
	}
	return out, nil
}

// FromSegments converts v11 segments from a client to neutral ones, mapping numbers back (self
// is the bot of the connection; Self{} for none). Media segments keep their source
// (model.Media.Source) for the media store to resolve.
func FromSegments(ctx context.Context, ids Mapper, self Self, segs []Segment) ([]model.Segment, error) {
	out := make([]model.Segment, 0, len(segs))
	for i, s := range segs {
		str := func(key string) string {
			switch v := s.Data[key].(type) {
			case string:
				return v
			case nil:
				return ""
			default:
				return fmt.Sprint(v)
			}
		}
		switch s.Type {
		case "text":
			t, ok := s.Data["text"].(string)
			if !ok {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (text): data.text must be a string", i)
			}
			out = append(out, model.Text{Text: t})
		case "at":
			qq := str("qq")
			if qq == "all" {
				out = append(out, model.MentionAll{})
				continue
			}
			n, err := strconv.ParseInt(qq, 10, 64)
			if err != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (at): qq must be a user number or \"all\"", i)
			}
			if self.User != "" && n == self.SelfID {
				out = append(out, model.Mention{User: self.User})
				continue
			}
			u, err := ids.MatrixID(ctx, KindUser, n)
			if err != nil {
				return nil, LookupError(err, "segment %d (at): unknown user %d", i, n)
			}
			out = append(out, model.Mention{User: id.UserID(u)})
		case "reply":
			n, err := strconv.ParseInt(str("id"), 10, 64)
			if err != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (reply): id must be a message id", i)
			}
			e, err := ids.MatrixID(ctx, KindEvent, n)
			if err != nil {
				return nil, LookupError(err, "segment %d (reply): unknown message %d", i, n)
			}
			out = append(out, model.Reply{Event: id.EventID(e)})
		case "image", "record", "video", "file":
			// go-cqhttp clients pass a received image on as file=<name or id>, url=<link>: a
			// url is used when file is not itself a source.
			src := str("file")
			if u := str("url"); u != "" && !LooksLikeSource(src) {
				src = u
			}
			if src == "" {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data.file is required", i, s.Type)
			}
			out = append(out, model.Media{Kind: neutralMediaKinds[s.Type], Source: src, File: model.FileInfo{Name: str("name")}})
		case "location":
			lat, ok1 := model.Number(s.Data["lat"])
			lon, ok2 := model.Number(s.Data["lon"])
			if !ok1 || !ok2 || !model.ValidLatLon(lat, lon) {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (location): lat and lon must be numbers within ±90 and ±180", i)
			}
			out = append(out, model.Location{Latitude: lat, Longitude: lon, Title: str("title"), Content: str("content")})
		default:
			return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
		}
	}
	return out, nil
}

// LooksLikeSource tells whether a v11 file value names where the bytes are (not just a name).
func LooksLikeSource(s string) bool {
	for _, p := range []string{"http://", "https://", "file://", "base64://", "data:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return s != "" && !strings.Contains(s, ".") // a file id of the store has no dot
}

// DecodeMessage reads a v11 message from a client: a CQ string (plain text with autoEscape), an
// array of segments, or one segment object.
func DecodeMessage(raw json.RawMessage, autoEscape bool) ([]Segment, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, model.Errorf(model.ErrBadParam, "message is required")
	}
	var segs []Segment
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, model.Errorf(model.ErrBadParam, "message: %v", err)
		}
		if autoEscape {
			segs = []Segment{{Type: "text", Data: map[string]any{"text": s}}}
		} else {
			var err error
			if segs, err = ParseCQ(s); err != nil {
				return nil, model.Errorf(model.ErrBadParam, "message: %v", err)
			}
		}
	case '{':
		var s Segment
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, model.Errorf(model.ErrBadParam, "message: %v", err)
		}
		segs = []Segment{s}
	default:
		if err := json.Unmarshal(raw, &segs); err != nil {
			return nil, model.Errorf(model.ErrBadParam, "message must be a string or an array of segments: %v", err)
		}
	}
	if len(segs) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "message is empty")
	}
	return segs, nil
}

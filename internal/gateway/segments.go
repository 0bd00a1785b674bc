package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// v11Self says which Matrix user is the bot on a v11 connection: its mentions become
// `at qq=<self_id>` (so that clients see to_me) and `at qq=<self_id>` means the bot.
type v11Self struct {
	user   id.UserID
	selfID int64
}

// v11UserID maps a Matrix user to its v11 number; the bot itself is its self_id.
func v11UserID(ctx context.Context, ids IDMapper, self v11Self, u id.UserID) (int64, error) {
	if self.user != "" && u == self.user && self.selfID != 0 {
		return self.selfID, nil
	}
	return ids.V11ID(ctx, storage.KindUser, string(u))
}

// v11MediaTypes maps neutral media segments to v11 names: v11 has no audio, so voice and audio
// are both `record`; `file` is an extension (as in go-cqhttp).
var v11MediaTypes = map[string]string{
	model.SegImage: "image", model.SegVoice: "record", model.SegAudio: "record", model.SegVideo: "video", model.SegFile: "file",
}

// neutralMediaTypes is the other way round.
var neutralMediaTypes = map[string]string{
	"image": model.SegImage, "record": model.SegVoice, "video": model.SegVideo, "file": model.SegFile,
}

func formatFloat(v any) string {
	f, _ := model.Number(v)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// toV11Segments converts neutral segments to v11 ones, mapping Matrix IDs to integers.
func toV11Segments(ctx context.Context, ids IDMapper, segs []model.Segment) ([]v11Segment, error) {
	return toV11SegmentsAs(ctx, ids, v11Self{}, segs)
}

// toV11SegmentsAs is toV11Segments on a bot's connection: the bot's mentions are its self_id.
func toV11SegmentsAs(ctx context.Context, ids IDMapper, self v11Self, segs []model.Segment) ([]v11Segment, error) {
	out := make([]v11Segment, 0, len(segs))
	for _, s := range segs {
		switch s.Type {
		case model.SegText:
			out = append(out, v11Segment{Type: "text", Data: map[string]any{"text": s.Data["text"]}})
		case model.SegMention:
			u, _ := s.Data["user_id"].(string)
			n, err := v11UserID(ctx, ids, self, id.UserID(u))
			if err != nil {
				return nil, fmt.Errorf("failed to map mentioned user: %w", err)
			}
			out = append(out, v11Segment{Type: "at", Data: map[string]any{"qq": strconv.FormatInt(n, 10)}})
		case model.SegMentionAll:
			out = append(out, v11Segment{Type: "at", Data: map[string]any{"qq": "all"}})
		case model.SegReply:
			e, _ := s.Data["message_id"].(string)
			n, err := ids.V11ID(ctx, storage.KindEvent, e)
			if err != nil {
				return nil, fmt.Errorf("failed to map replied event: %w", err)
			}
			out = append(out, v11Segment{Type: "reply", Data: map[string]any{"id": strconv.FormatInt(n, 10)}})
		case model.SegImage, model.SegVoice, model.SegAudio, model.SegVideo, model.SegFile:
			d := map[string]any{"file": s.Data[model.DataFileID]}
			if u, ok := s.Data[model.DataURL].(string); ok {
				d["url"] = u
			}
			if s.Type == model.SegFile {
				if n, ok := s.Data[model.DataName].(string); ok {
					d["name"] = n
				}
				if size, ok := model.Number(s.Data[model.DataSize]); ok {
					d["size"] = strconv.FormatInt(int64(size), 10)
				}
			}
			out = append(out, v11Segment{Type: v11MediaTypes[s.Type], Data: d})
		case model.SegLocation:
			out = append(out, v11Segment{Type: "location", Data: map[string]any{
				"lat": formatFloat(s.Data["latitude"]), "lon": formatFloat(s.Data["longitude"]),
				"title": s.Data["title"], "content": s.Data["content"],
			}})
		default:
			// Segments v11 has no form for are passed on as they are.
			out = append(out, v11Segment{Type: s.Type, Data: s.Data})
		}
	}
	return out, nil
}

// fromV11Segments converts v11 segments from a client to neutral ones, mapping integers back.
// Media segments keep their source (DataSource) for Media.resolveSources.
func fromV11Segments(ctx context.Context, ids IDMapper, segs []v11Segment) ([]model.Segment, error) {
	return fromV11SegmentsAs(ctx, ids, v11Self{}, segs)
}

func fromV11SegmentsAs(ctx context.Context, ids IDMapper, self v11Self, segs []v11Segment) ([]model.Segment, error) {
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
			out = append(out, model.Text(t))
		case "at":
			qq := str("qq")
			if qq == "all" {
				out = append(out, model.Segment{Type: model.SegMentionAll, Data: map[string]any{}})
				continue
			}
			n, err := strconv.ParseInt(qq, 10, 64)
			if err != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (at): qq must be a user number or \"all\"", i)
			}
			if self.user != "" && n == self.selfID {
				out = append(out, model.Mention(self.user))
				continue
			}
			u, err := ids.MatrixID(ctx, storage.KindUser, n)
			if err != nil {
				return nil, idLookupError(err, "segment %d (at): unknown user %d", i, n)
			}
			out = append(out, model.Mention(id.UserID(u)))
		case "reply":
			n, err := strconv.ParseInt(str("id"), 10, 64)
			if err != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (reply): id must be a message id", i)
			}
			e, err := ids.MatrixID(ctx, storage.KindEvent, n)
			if err != nil {
				return nil, idLookupError(err, "segment %d (reply): unknown message %d", i, n)
			}
			out = append(out, model.Segment{Type: model.SegReply, Data: map[string]any{"message_id": e}})
		case "image", "record", "video", "file":
			// go-cqhttp clients pass a received image on as file=<name or id>, url=<link>: a
			// url is used when file is not itself a source.
			src := str("file")
			if u := str("url"); u != "" && !looksLikeSource(src) {
				src = u
			}
			if src == "" {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data.file is required", i, s.Type)
			}
			d := map[string]any{model.DataSource: src}
			if n := str("name"); n != "" {
				d[model.DataName] = n
			}
			out = append(out, model.Segment{Type: neutralMediaTypes[s.Type], Data: d})
		case "location":
			lat, ok1 := model.Number(s.Data["lat"])
			lon, ok2 := model.Number(s.Data["lon"])
			if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (location): lat and lon must be numbers within ±90 and ±180", i)
			}
			out = append(out, model.Location(lat, lon, str("title"), str("content")))
		default:
			return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
		}
	}
	return out, nil
}

// looksLikeSource tells whether a v11 file value names where the bytes are (not just a name).
func looksLikeSource(s string) bool {
	for _, p := range []string{"http://", "https://", "file://", "base64://", "data:"} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return true
		}
	}
	return s != "" && !strings.Contains(s, ".") // a file id of the store has no dot
}

// checkV12Segment validates one segment of a v12 message.
func checkV12Segment(i int, s model.Segment) error {
	str := func(key string) (string, bool) {
		v, ok := s.Data[key].(string)
		return v, ok
	}
	if s.Data == nil {
		return model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data is required", i, s.Type)
	}
	switch s.Type {
	case model.SegText:
		if _, ok := str("text"); !ok {
			return model.Errorf(model.ErrBadSegmentData, "segment %d (text): data.text must be a string", i)
		}
	case model.SegMention:
		if u, _ := str("user_id"); !validUserID(u) {
			return model.Errorf(model.ErrBadSegmentData, "segment %d (mention): data.user_id must be a Matrix user ID", i)
		}
	case model.SegMentionAll:
	case model.SegReply:
		if e, _ := str("message_id"); !strings.HasPrefix(e, "$") {
			return model.Errorf(model.ErrBadSegmentData, "segment %d (reply): data.message_id must be a Matrix event ID", i)
		}
	case model.SegImage, model.SegVoice, model.SegAudio, model.SegVideo, model.SegFile:
		if f, _ := str(model.DataFileID); f == "" {
			return model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data.file_id must be a file id from upload_file", i, s.Type)
		}
	case model.SegLocation:
		lat, ok1 := model.Number(s.Data["latitude"])
		lon, ok2 := model.Number(s.Data["longitude"])
		if !ok1 || !ok2 || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
			return model.Errorf(model.ErrBadSegmentData, "segment %d (location): latitude and longitude must be numbers within ±90 and ±180", i)
		}
	default:
		return model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
	}
	return nil
}

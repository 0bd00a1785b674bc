package v12

import (
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// Segment is a message segment on the OneBot v12 wire: {type, data} (onebot.Segment, shared
// with the idempotency digest of both faces).
type Segment = onebot.Segment

// Keys of a media segment's data besides `file_id` (onebot's).
const (
	DataFileID   = onebot.DataFileID
	DataURL      = onebot.DataURL
	DataName     = onebot.DataName
	DataMimeType = onebot.DataMimeType
	DataSize     = onebot.DataSize
	DataSource   = onebot.DataSource
)

// EncodeSegment writes a typed segment in v12 form (onebot.EncodeSegment).
func EncodeSegment(s model.Segment) Segment { return onebot.EncodeSegment(s) }

// EncodeSegments is EncodeSegment for each segment; never nil (onebot.EncodeSegments).
func EncodeSegments(segs []model.Segment) []Segment { return onebot.EncodeSegments(segs) }

// DecodeSegment reads segment i of a message from a client: every field is checked, and a
// malformed one is an ErrBadSegmentData error naming the segment; a type the gateway cannot
// send is ErrUnsupportedSegment. Only what a client may say is read: a media segment's file_id
// (the matrix.* keys are the gateway's own output), a reply's message_id and user_id, a
// location's numbers (JSON numbers or decimal strings), title and content.
func DecodeSegment(i int, s Segment) (model.Segment, error) {
	str := func(key string) (string, bool) {
		v, ok := s.Data[key].(string)
		return v, ok
	}
	if s.Data == nil {
		return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data is required", i, s.Type)
	}
	switch s.Type {
	case model.SegText:
		t, ok := str("text")
		if !ok {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (text): data.text must be a string", i)
		}
		return model.Text{Text: t}, nil
	case model.SegMention:
		u, _ := str("user_id")
		if !ValidUserID(u) {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (mention): data.user_id must be a Matrix user ID", i)
		}
		return model.Mention{User: id.UserID(u)}, nil
	case model.SegMentionAll:
		return model.MentionAll{}, nil
	case model.SegReply:
		e, _ := str("message_id")
		if !strings.HasPrefix(e, "$") {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (reply): data.message_id must be a Matrix event ID", i)
		}
		u, _ := str("user_id")
		return model.Reply{Event: id.EventID(e), Sender: id.UserID(u)}, nil
	case model.SegImage, model.SegVoice, model.SegAudio, model.SegVideo, model.SegFile:
		f, _ := str(DataFileID)
		if f == "" {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data.file_id must be a file id from upload_file", i, s.Type)
		}
		return model.Media{Kind: model.MediaKind(s.Type), File: model.FileInfo{ID: f}}, nil
	case model.SegLocation:
		lat, ok1 := model.Number(s.Data["latitude"])
		lon, ok2 := model.Number(s.Data["longitude"])
		if !ok1 || !ok2 || !model.ValidLatLon(lat, lon) {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (location): latitude and longitude must be numbers within ±90 and ±180", i)
		}
		title, _ := str("title")
		content, _ := str("content")
		return model.Location{Latitude: lat, Longitude: lon, Title: title, Content: content}, nil
	}
	return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
}

// DecodeSegments is DecodeSegment for each segment of a message; the first error ends it.
func DecodeSegments(segs []Segment) ([]model.Segment, error) {
	out := make([]model.Segment, 0, len(segs))
	for i, s := range segs {
		t, err := DecodeSegment(i, s)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// ValidUserID tells whether s is a Matrix user ID (@localpart:server).
func ValidUserID(s string) bool {
	_, _, err := id.UserID(s).Parse()
	return err == nil && strings.HasPrefix(s, "@")
}

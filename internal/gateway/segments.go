package gateway

import (
	"strings"

	"github.com/matrix-onebot/gateway/internal/model"
)

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

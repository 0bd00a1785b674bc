package v12

import (
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Segment is a message segment on the OneBot v12 wire: {type, data}.
type Segment struct {
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// Keys of a media segment's data besides `file_id`. They are extensions, so they carry the
// platform prefix.
const (
	DataFileID   = "file_id"
	DataURL      = "matrix.url"      // the gateway URL that streams the file (signed, time-limited)
	DataName     = "matrix.name"     // file name
	DataMimeType = "matrix.mimetype" // MIME type
	DataSize     = "matrix.size"     // size in bytes
	// DataSource is where a file not stored yet comes from (a OneBot v11 client's file or url:
	// a URL, file:// path, base64:// or data: URL, or a file id). It is never sent to a client
	// and never read from one; it shows in the gateway's own JSON (idempotency digests, tests).
	DataSource = "matrix.source"
)

// EncodeSegment writes a typed segment in v12 form. A reply always has user_id ("" when the
// sender is unknown); a media segment has file_id and, when known, matrix.url, matrix.name,
// matrix.mimetype and matrix.size (or matrix.source instead of file_id while its file is not
// stored yet). The bytes are what the gateway has always sent: data keys marshal sorted.
func EncodeSegment(s model.Segment) Segment {
	switch s := s.(type) {
	case model.Text:
		return Segment{Type: model.SegText, Data: map[string]any{"text": s.Text}}
	case model.Mention:
		return Segment{Type: model.SegMention, Data: map[string]any{"user_id": string(s.User)}}
	case model.MentionAll:
		return Segment{Type: model.SegMentionAll, Data: map[string]any{}}
	case model.Reply:
		return Segment{Type: model.SegReply, Data: map[string]any{"message_id": string(s.Event), "user_id": string(s.Sender)}}
	case model.Media:
		d := map[string]any{}
		if s.Source != "" && s.File.ID == "" {
			d[DataSource] = s.Source
		} else {
			d[DataFileID] = s.File.ID
		}
		if s.URL != "" {
			d[DataURL] = s.URL
		}
		if s.File.Name != "" {
			d[DataName] = s.File.Name
		}
		if s.File.MimeType != "" {
			d[DataMimeType] = s.File.MimeType
		}
		if s.File.Size > 0 {
			d[DataSize] = s.File.Size
		}
		return Segment{Type: string(s.Kind), Data: d}
	case model.Location:
		return Segment{Type: model.SegLocation, Data: map[string]any{
			"latitude": s.Latitude, "longitude": s.Longitude, "title": s.Title, "content": s.Content,
		}}
	}
	panic("v12: unknown segment type") // unreachable: the set is sealed
}

// EncodeSegments is EncodeSegment for each segment; it never returns nil, so that an empty
// message marshals as [] and not null.
func EncodeSegments(segs []model.Segment) []Segment {
	out := make([]Segment, len(segs))
	for i, s := range segs {
		out[i] = EncodeSegment(s)
	}
	return out
}

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

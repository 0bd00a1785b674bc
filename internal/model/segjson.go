package model

import (
	"strings"

	"maunium.net/go/mautrix/id"
)

// EncodeSegment writes a typed segment in its JSON form: {type, data} with OneBot v12's names
// and the gateway's matrix.* keys (see the Data* constants). A reply always has user_id ("" when
// the sender is unknown); a media segment has file_id and, when known, matrix.url, matrix.name,
// matrix.mimetype and matrix.size, or matrix.source while its file is not stored yet.
func EncodeSegment(s TypedSegment) Segment {
	switch s := s.(type) {
	case TextSegment:
		return Segment{Type: SegText, Data: map[string]any{"text": s.Text}}
	case MentionSegment:
		return Segment{Type: SegMention, Data: map[string]any{"user_id": string(s.User)}}
	case MentionAllSegment:
		return Segment{Type: SegMentionAll, Data: map[string]any{}}
	case ReplySegment:
		return Segment{Type: SegReply, Data: map[string]any{"message_id": string(s.Event), "user_id": string(s.Sender)}}
	case MediaSegment:
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
	case LocationSegment:
		return Segment{Type: SegLocation, Data: map[string]any{
			"latitude": s.Latitude, "longitude": s.Longitude, "title": s.Title, "content": s.Content,
		}}
	}
	panic("model: unknown segment type") // unreachable: the set is sealed
}

// EncodeSegments is EncodeSegment for each segment; it never returns nil, so that an empty
// message marshals as [] and not null.
func EncodeSegments(segs []TypedSegment) []Segment {
	out := make([]Segment, len(segs))
	for i, s := range segs {
		out[i] = EncodeSegment(s)
	}
	return out
}

// DecodeSegment reads segment i of a message from a client in the JSON form (OneBot v12's
// segments): every field is checked, and a malformed one is an ErrBadSegmentData error naming
// the segment; a type the gateway cannot send is ErrUnsupportedSegment. Only what a client may
// say is read: a media segment's file_id (its matrix.* keys are the gateway's own output), a
// reply's message_id and user_id, a location's numbers (JSON numbers or decimal strings).
func DecodeSegment(i int, s Segment) (TypedSegment, error) {
	str := func(key string) (string, bool) {
		v, ok := s.Data[key].(string)
		return v, ok
	}
	if s.Data == nil {
		return nil, Errorf(ErrBadSegmentData, "segment %d (%s): data is required", i, s.Type)
	}
	switch s.Type {
	case SegText:
		t, ok := str("text")
		if !ok {
			return nil, Errorf(ErrBadSegmentData, "segment %d (text): data.text must be a string", i)
		}
		return TextSegment{Text: t}, nil
	case SegMention:
		u, _ := str("user_id")
		if !ValidUserID(u) {
			return nil, Errorf(ErrBadSegmentData, "segment %d (mention): data.user_id must be a Matrix user ID", i)
		}
		return MentionSegment{User: id.UserID(u)}, nil
	case SegMentionAll:
		return MentionAllSegment{}, nil
	case SegReply:
		e, _ := str("message_id")
		if !strings.HasPrefix(e, "$") {
			return nil, Errorf(ErrBadSegmentData, "segment %d (reply): data.message_id must be a Matrix event ID", i)
		}
		u, _ := str("user_id")
		return ReplySegment{Event: id.EventID(e), Sender: id.UserID(u)}, nil
	case SegImage, SegVoice, SegAudio, SegVideo, SegFile:
		f, _ := str(DataFileID)
		if f == "" {
			return nil, Errorf(ErrBadSegmentData, "segment %d (%s): data.file_id must be a file id from upload_file", i, s.Type)
		}
		return MediaSegment{Kind: MediaKind(s.Type), File: FileInfo{ID: f}}, nil
	case SegLocation:
		lat, ok1 := Number(s.Data["latitude"])
		lon, ok2 := Number(s.Data["longitude"])
		if !ok1 || !ok2 || !ValidLatLon(lat, lon) {
			return nil, Errorf(ErrBadSegmentData, "segment %d (location): latitude and longitude must be numbers within ±90 and ±180", i)
		}
		title, _ := str("title")
		content, _ := str("content")
		return LocationSegment{Latitude: lat, Longitude: lon, Title: title, Content: content}, nil
	}
	return nil, Errorf(ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
}

// DecodeSegments is DecodeSegment for each segment of a message; the first error ends it.
func DecodeSegments(segs []Segment) ([]TypedSegment, error) {
	out := make([]TypedSegment, 0, len(segs))
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

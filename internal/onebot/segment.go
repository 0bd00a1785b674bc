package onebot

import "github.com/matrix-onebot/gateway/internal/model"

// Segment is a message segment in the {type, data} form of OneBot v12, with the gateway's
// matrix.* data keys: the v12 face's wire form (ob12.Segment is this type), and the form in which
// a send's idempotency digest names its message, whichever face it came from.
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

// EncodeSegment writes a typed segment in the v12 form. A reply always has user_id ("" when the
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
	panic("onebot: unknown segment type") // unreachable: the set is sealed
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

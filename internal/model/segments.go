package model

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"maunium.net/go/mautrix/id"
)

// Segment types of the neutral model (the OneBot v12 names).
const (
	SegText       = "text"
	SegMention    = "mention"
	SegMentionAll = "mention_all"
	SegReply      = "reply"
	SegImage      = "image"
	SegVoice      = "voice"
	SegAudio      = "audio"
	SegVideo      = "video"
	SegFile       = "file"
	SegLocation   = "location"
)

// IsMedia tells whether a segment type carries a file.
func IsMedia(typ string) bool {
	switch typ {
	case SegImage, SegVoice, SegAudio, SegVideo, SegFile:
		return true
	}
	return false
}

// Keys of a media segment's data besides the v12 `file_id`. They are extensions, so they carry
// the platform prefix; the v11 codec maps them to its own names (`url`, `name`, `size`).
const (
	DataFileID   = "file_id"
	DataURL      = "matrix.url"      // the gateway URL that streams the file (signed, time-limited)
	DataName     = "matrix.name"     // file name
	DataMimeType = "matrix.mimetype" // MIME type
	DataSize     = "matrix.size"     // size in bytes
	// DataSource is set on media segments decoded from a OneBot v11 client before the gateway
	// has stored the file: a URL, file:// path, base64:// or data: URL, or a file id.
	DataSource = "matrix.source"
)

// Media returns a media segment for a stored file; url may be "".
func Media(typ string, f FileInfo, url string) Segment {
	d := map[string]any{DataFileID: f.ID}
	if url != "" {
		d[DataURL] = url
	}
	if f.Name != "" {
		d[DataName] = f.Name
	}
	if f.MimeType != "" {
		d[DataMimeType] = f.MimeType
	}
	if f.Size > 0 {
		d[DataSize] = f.Size
	}
	return Segment{Type: typ, Data: d}
}

// Location returns a location segment.
func Location(lat, lon float64, title, content string) Segment {
	return Segment{Type: SegLocation, Data: map[string]any{"latitude": lat, "longitude": lon, "title": title, "content": content}}
}

// Number reads a numeric segment value given as a JSON number or a decimal string.
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// FileInfo describes a file the gateway can send or serve.
type FileInfo struct {
	ID       string
	Name     string
	MimeType string
	Size     int64 // 0 when unknown
	Width    int   // images and videos, when known
	Height   int
	SHA256   string // hex, when known
}

// Errors of the file store and its signed URLs.
var (
	ErrURLExpired   = errors.New("the link has expired")
	ErrURLSignature = errors.New("the link's signature is wrong")
	ErrTooLarge     = errors.New("the file is larger than GATEWAY_MEDIA_MAX_SIZE")
)

// Files keeps the files the gateway has seen (media received from Matrix) or was given (uploads
// by OneBot clients), under opaque file ids that stay valid across restarts.
type Files interface {
	// Put stores the bytes of r (at most MaxSize) under a new file id.
	Put(ctx context.Context, name, mimeType string, r io.Reader) (FileInfo, error)
	// Stat describes a file; ErrNotFound (as an ActionError) when the id is unknown.
	Stat(ctx context.Context, fileID string) (FileInfo, error)
	// Open streams a file's bytes (downloading them from the homeserver when needed).
	Open(ctx context.Context, fileID string) (FileInfo, io.ReadCloser, error)
	// LocalPath returns a local copy of the file, downloading it first when needed.
	LocalPath(ctx context.Context, fileID string) (string, FileInfo, error)
	// URL returns a signed, time-limited gateway URL that streams the file without a token.
	URL(fileID string) string
	// CheckURL verifies a URL's expiry and signature: ErrURLExpired or ErrURLSignature.
	CheckURL(fileID, expires, signature string, now time.Time) error
	// MaxSize is the largest file accepted, in bytes.
	MaxSize() int64
}

// SendOptions change how one message is sent.
type SendOptions struct {
	MsgType  string // m.text, m.notice or m.emote for text; "" = the bot's default (onebot_msgtype)
	Markdown *bool  // render text as Markdown into formatted_body; nil = the bot's default
	// Idempotency, when Key is set: the client's key (v12 matrix.txn_id, v11 matrix_txn_id)
	// and a digest of what is sent, from IdempotencyHash. See IdempotentSender.
	Idempotency *Idempotency
	// Replace, when set, sends the message as an edit (m.replace) of that earlier message:
	// text only (mentions and markup too), one event; the room is the message's.
	Replace id.EventID
}

// Idempotency identifies one send for retries: the same Key with the same Hash is the same send.
type Idempotency struct {
	Key  string
	Hash string
}

// IdempotentSender is a Bot whose sends with an idempotency key are posted once: a retry with
// the same key within 24 hours (also after a restart) reuses the Matrix transaction ID of the
// first attempt, and once that succeeded, answers its message without sending again.
type IdempotentSender interface {
	// SentWithKey returns the message a send with this key already posted (ok true), or ok
	// false when none did yet. A key used for a different message is an ErrBadParam error.
	SentWithKey(ctx context.Context, idem Idempotency) (sent Sent, ok bool, err error)
}

// OptionSender is a Bot that takes per-call send options.
type OptionSender interface {
	SendMessageWith(ctx context.Context, to Target, segs []Segment, opts SendOptions) (Sent, error)
}

// MessageGetter is a Bot that returns messages from its message index (get_msg).
type MessageGetter interface {
	// GetMessage returns a message the bot has seen or sent, as a KindMessage event; an
	// ActionError ErrNotFound when unknown and ErrGone when it was redacted.
	GetMessage(ctx context.Context, evt id.EventID) (*Event, error)
}

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

// Segment is one part of a message: exactly one of Text, Mention, MentionAll, Reply, Media and
// Location. The set is sealed (the method isSegment is unexported), so a type switch over it is
// complete and no other package can add a kind that the Matrix side would not know how to send.
// Each face translates its own wire form to and from these types (OneBot v12: {type, data}
// objects; v11: arrays and CQ codes; Satori: message elements).
type Segment interface {
	// Type is the segment's name in the neutral model (the Seg* constants: OneBot v12's names).
	Type() string
	isSegment()
}

// Text is plain text.
type Text struct {
	Text string
}

// Mention mentions a user (a Matrix pill; OneBot v12 mention, v11 at).
type Mention struct {
	User id.UserID
	// Name is the display name the message showed for the user (a pill's text), "" when
	// unknown; outgoing mentions need none.
	Name string
}

// MentionAll mentions the whole room (@room; OneBot v12 mention_all, v11 at qq=all).
type MentionAll struct{}

// Reply says which message this one answers. Sender is the replied-to message's sender
// ("" when unknown, or on an outgoing message where the client did not say).
type Reply struct {
	Event  id.EventID
	Sender id.UserID
}

// MediaKind is which kind of file a Media carries (its segment type).
type MediaKind string

// The media kinds are the media segment types.
const (
	MediaImage MediaKind = SegImage
	MediaVoice MediaKind = SegVoice
	MediaAudio MediaKind = SegAudio
	MediaVideo MediaKind = SegVideo
	MediaFile  MediaKind = SegFile
)

// Media is an image, voice message, audio, video or file. File.ID names a stored file;
// URL, when set, streams it (a signed, time-limited gateway URL). Source is set instead of
// File.ID on a segment from a OneBot v11 client before the gateway has stored the file: a
// URL, file:// path, base64:// or data: URL, or a file id (File.Name may come with it).
type Media struct {
	Kind   MediaKind
	File   FileInfo
	URL    string
	Source string
}

// Location is a point on the map (m.location with a geo: URI).
type Location struct {
	Latitude, Longitude float64
	Title, Content      string
}

func (Text) Type() string       { return SegText }
func (Mention) Type() string    { return SegMention }
func (MentionAll) Type() string { return SegMentionAll }
func (Reply) Type() string      { return SegReply }
func (m Media) Type() string    { return string(m.Kind) }
func (Location) Type() string   { return SegLocation }

func (Text) isSegment()       {}
func (Mention) isSegment()    {}
func (MentionAll) isSegment() {}
func (Reply) isSegment()      {}
func (Media) isSegment()      {}
func (Location) isSegment()   {}

// ValidLatLon tells whether a latitude and longitude are numbers within ±90 and ±180.
func ValidLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 // false for NaN
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

// HistoryReader is a Bot that reads a room's history from the homeserver (Satori message.list).
type HistoryReader interface {
	// History returns up to limit messages of room from the pagination token from ("" = the
	// newest when backward, the oldest when forward), newest first when backward; edits and
	// redacted messages are left out, so a page may hold fewer than limit.
	History(ctx context.Context, room id.RoomID, from string, backward bool, limit int) (History, error)
}

// History is one page of a room's history: its messages (KindMessage events, in the order the
// homeserver gave them) and the tokens to read on (Further, in the same direction; "" at the
// end) and back (Back, in the other direction).
type History struct {
	Events  []*Event
	Further string
	Back    string
}

package model

import (
	"maunium.net/go/mautrix/id"
)

// TypedSegment is one part of a message: exactly one of TextSegment, MentionSegment,
// MentionAllSegment, ReplySegment, MediaSegment and LocationSegment. The set is sealed (the
// method isSegment is unexported), so a type switch over it is complete and no other package
// can add a kind that the Matrix side would not know how to send.
type TypedSegment interface {
	// Type is the segment's name in the neutral model (the Seg* constants: OneBot v12's names).
	Type() string
	isSegment()
}

// TextSegment is plain text.
type TextSegment struct {
	Text string
}

// MentionSegment mentions a user (a Matrix pill; OneBot v12 mention, v11 at).
type MentionSegment struct {
	User id.UserID
}

// MentionAllSegment mentions the whole room (@room; OneBot v12 mention_all, v11 at qq=all).
type MentionAllSegment struct{}

// ReplySegment says which message this one answers. Sender is the replied-to message's sender
// ("" when unknown, or on an outgoing message where the client did not say).
type ReplySegment struct {
	Event  id.EventID
	Sender id.UserID
}

// MediaKind is which kind of file a MediaSegment carries (its segment type).
type MediaKind string

// The media kinds are the media segment types.
const (
	MediaImage MediaKind = SegImage
	MediaVoice MediaKind = SegVoice
	MediaAudio MediaKind = SegAudio
	MediaVideo MediaKind = SegVideo
	MediaFile  MediaKind = SegFile
)

// MediaSegment is an image, voice message, audio, video or file. File.ID names a stored file;
// URL, when set, streams it (a signed, time-limited gateway URL). Source is set instead of
// File.ID on a segment from a OneBot v11 client before the gateway has stored the file: a
// URL, file:// path, base64:// or data: URL, or a file id (File.Name may come with it).
type MediaSegment struct {
	Kind   MediaKind
	File   FileInfo
	URL    string
	Source string
}

// LocationSegment is a point on the map (m.location with a geo: URI).
type LocationSegment struct {
	Latitude, Longitude float64
	Title, Content      string
}

func (TextSegment) Type() string       { return SegText }
func (MentionSegment) Type() string    { return SegMention }
func (MentionAllSegment) Type() string { return SegMentionAll }
func (ReplySegment) Type() string      { return SegReply }
func (m MediaSegment) Type() string    { return string(m.Kind) }
func (LocationSegment) Type() string   { return SegLocation }

func (TextSegment) isSegment()       {}
func (MentionSegment) isSegment()    {}
func (MentionAllSegment) isSegment() {}
func (ReplySegment) isSegment()      {}
func (MediaSegment) isSegment()      {}
func (LocationSegment) isSegment()   {}

// ValidLatLon tells whether a latitude and longitude are numbers within ±90 and ±180.
func ValidLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180 // false for NaN
}

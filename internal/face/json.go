package face

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"
)

// NewEventID returns a random id for events that have no Matrix event ID (meta events).
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Marshal encodes v as compact JSON without HTML escaping and without a trailing newline: the
// exact bytes clients see and sign (Koishi's HMAC is over JSON.stringify of the parsed body).
// The result is always UTF-8: encoding/json copies a json.RawMessage (an echo, a homeserver's
// answer) byte for byte, so invalid sequences, which can only be inside strings, become U+FFFD.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	return b, nil
}

// MustJSON marshals values whose types cannot fail to marshal.
func MustJSON(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic("face: cannot marshal " + err.Error())
	}
	return b
}

// MarkField adds field (`"name":true,`) first in a JSON object frame, unless it is there already
// (a frame marked once, then replayed from an outbox, is not marked twice).
func MarkField(frame []byte, field string) []byte {
	if len(frame) < 2 || frame[0] != '{' || bytes.Equal(frame, []byte("{}")) {
		return frame
	}
	if bytes.HasPrefix(frame[1:], []byte(field)) {
		return frame
	}
	out := make([]byte, 0, len(frame)+len(field))
	out = append(out, '{')
	out = append(out, field...)
	return append(out, frame[1:]...)
}

// SalvageEcho finds the echo of a request that failed to decode as a whole, so that the client
// can still match the error to its call.
func SalvageEcho(raw []byte) json.RawMessage {
	var probe struct {
		Echo json.RawMessage `json:"echo"`
	}
	if json.Unmarshal(raw, &probe) == nil {
		return probe.Echo
	}
	return nil
}

package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"unicode/utf8"
)

// newEventID returns a random id for events that have no Matrix event ID (meta events).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// marshal encodes v as compact JSON without HTML escaping and without a trailing newline: the
// exact bytes clients see and sign (Koishi's HMAC is over JSON.stringify of the parsed body).
// The result is always UTF-8: encoding/json copies a json.RawMessage (an echo, a homeserver's
// answer) byte for byte, so invalid sequences, which can only be inside strings, become U+FFFD.
func marshal(v any) ([]byte, error) {
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

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic("gateway: cannot marshal " + err.Error())
	}
	return b
}

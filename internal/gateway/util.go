package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
)

// newEventID returns a random id for events that have no Matrix event ID (meta events).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// marshal encodes v as compact JSON without HTML escaping and without a trailing newline: the
// exact bytes clients see and sign (Koishi's HMAC is over JSON.stringify of the parsed body).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) []byte {
	b, err := marshal(v)
	if err != nil {
		panic("gateway: cannot marshal " + err.Error())
	}
	return b
}

package gateway

import "github.com/matrix-onebot/gateway/internal/face"

// newEventID returns a random id for events that have no Matrix event ID (meta events).
func newEventID() string { return face.NewEventID() }

// marshal encodes v as the exact bytes clients see (face.Marshal).
func marshal(v any) ([]byte, error) { return face.Marshal(v) }

// mustJSON marshals values whose types cannot fail to marshal.
func mustJSON(v any) []byte { return face.MustJSON(v) }

package core

import "fmt"

// Impl is the OneBot implementation name (v12 `impl`, matches [a-z][-a-z0-9]*).
const Impl = "matrix-onebot"

// RequestTooLarge: a request over its limit.
type RequestTooLarge struct {
	Limit  int64
	Action string // "" when the action is not known
}

func (e *RequestTooLarge) Error() string {
	if e.Action != "" {
		return fmt.Sprintf("a request of %s is limited to %d bytes (GATEWAY_MAX_ACTION_SIZE); only actions that carry a file may be larger", e.Action, e.Limit)
	}
	return fmt.Sprintf("the request is over %d bytes (the largest upload GATEWAY_MEDIA_MAX_SIZE allows)", e.Limit)
}

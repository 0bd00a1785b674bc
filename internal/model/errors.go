package model

import (
	"errors"
	"fmt"
)

// ErrorKind classifies why an action failed; each protocol maps it to its own codes.
type ErrorKind int

const (
	ErrInternal           ErrorKind = iota // a bug or an unexpected failure of the gateway
	ErrBadParam                            // a parameter is missing or malformed
	ErrUnsupportedSegment                  // a message segment type we cannot send
	ErrBadSegmentData                      // a segment's data is malformed
	ErrNotFound                            // the thing asked for is unknown
	ErrPlatform                            // the homeserver refused (carries the Matrix errcode)
	ErrNetwork                             // the homeserver could not be reached
	ErrRateLimited                         // the homeserver asked us to slow down
	ErrBotOffline                          // the bot has no working session now
	ErrGone                                // the thing asked for existed but is gone (a redacted message)
)

var errorKindNames = [...]string{
	ErrInternal: "internal", ErrBadParam: "bad_param", ErrUnsupportedSegment: "unsupported_segment",
	ErrBadSegmentData: "bad_segment_data", ErrNotFound: "not_found", ErrPlatform: "platform",
	ErrNetwork: "network", ErrRateLimited: "rate_limited", ErrBotOffline: "bot_offline", ErrGone: "gone",
}

// String names the kind (as test vectors and logs show it).
func (k ErrorKind) String() string {
	if k >= 0 && int(k) < len(errorKindNames) {
		return errorKindNames[k]
	}
	return fmt.Sprintf("kind_%d", int(k))
}

// ActionError is an action failure with a kind the codecs map to retcodes.
type ActionError struct {
	Kind      ErrorKind
	Message   string
	MatrixErr string // errcode from the homeserver, e.g. M_FORBIDDEN
	Err       error
}

func (e *ActionError) Error() string {
	msg := e.Message
	if e.MatrixErr != "" {
		msg = fmt.Sprintf("%s (%s)", msg, e.MatrixErr)
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *ActionError) Unwrap() error { return e.Err }

// Errorf returns an ActionError of the given kind.
func Errorf(kind ErrorKind, format string, args ...any) *ActionError {
	return &ActionError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err: ErrInternal when it carries none.
func KindOf(err error) ErrorKind {
	var ae *ActionError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return ErrInternal
}

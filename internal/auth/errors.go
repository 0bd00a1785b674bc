package auth

import (
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrLoggedOut means the bot has no working session and cannot get one by itself: the
	// operator must act (the message says how). Calls fail fast with it while the manager
	// retries slowly in the background of the calls.
	ErrLoggedOut = errors.New("logged out")
	// ErrRetrying means obtaining a new access token failed for a reason that may pass (the
	// network, a 5xx, or a first refusal); the old tokens are kept and the call may be retried.
	ErrRetrying = errors.New("cannot obtain an access token now")
	// ErrNoCredentials means the bot has neither a token nor a way to obtain one.
	ErrNoCredentials = errors.New("no credentials")
)

// ServerError is a refusal from the homeserver or the OAuth server, keeping what failure
// handling needs: the status, the error code and soft_logout.
type ServerError struct {
	Op         string // what was attempted, e.g. "refresh the access token"
	Status     int
	Code       string // Matrix errcode, or the OAuth "error"
	Message    string // error / error_description
	SoftLogout bool
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("failed to %s: HTTP %d", e.Op, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.SoftLogout {
		msg += " (soft logout)"
	}
	return msg
}

// clientError reports whether err is a 4xx refusal (other than 429), or a request that no
// server could accept (errNoOAuthClient): retrying the same request cannot help.
func clientError(err error) (*ServerError, bool) {
	if errors.Is(err, errNoOAuthClient) {
		return &ServerError{Op: "refresh the OAuth access token", Code: "invalid_client", Message: errNoOAuthClient.Error()}, true
	}
	var se *ServerError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusTooManyRequests {
		return se, true
	}
	return nil, false
}

package transport

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// Dial opens a reverse WebSocket to rawURL within timeout, on a corked connection (DialCorked).
// Its error never carries the URL's secrets (RedactURLError); an endpoint that answers 401 or
// 403 gives a *RefusedError.
func Dial(ctx context.Context, rawURL string, opts *websocket.DialOptions, timeout time.Duration) (*websocket.Conn, *CorkConn, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, cork, resp, err := DialCorked(dctx, rawURL, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		err = RedactURLError(err, rawURL)
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			err = &RefusedError{err}
		}
		return nil, nil, err
	}
	return c, cork, nil
}

// RefusedError is a dial the endpoint answered with 401 or 403.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// TokenRefused reports whether the endpoint refused the connection the way OneBot clients refuse
// a missing or wrong access token: 401/403 at the handshake, or a close with 1008 (policy
// violation), which NoneBot2 sends.
func TokenRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re) || websocket.CloseStatus(err) == websocket.StatusPolicyViolation
}

// redactedError is an error whose text had the secrets of a URL taken out; Unwrap still gives
// the original, for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactURLError hides the query (e.g. ?access_token=…) and password of rawURL in err's text: a
// dial error repeats the URL (net/http's *url.Error), and it is logged on every reconnect.
func RedactURLError(err error, rawURL string) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		uerr.URL = redact.URL(uerr.URL)
	}
	msg := err.Error()
	if u, perr := url.Parse(rawURL); perr == nil {
		secrets := []string{u.RawQuery, u.Fragment}
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.QueryEscape(p))
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
		}
		for _, s := range secrets {
			if len(s) >= 4 { // a short value would blank out ordinary words of the message
				msg = strings.ReplaceAll(msg, s, "REDACTED")
			}
		}
	}
	return &redactedError{msg: msg, err: err}
}

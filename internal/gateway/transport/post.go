package transport

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// MaxReply is how many bytes of a reply body Post reads.
const MaxReply = 1 << 20

// Answer is an endpoint's HTTP answer to a push.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// OK reports a 2xx status: the endpoint took the event.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status <= 299 }

// Reply is the body to run (v12 actions, v11 quick operation): only a 200 carries one.
func (a Answer) Reply() []byte {
	if a.Status != http.StatusOK {
		return nil
	}
	return a.Body
}

// PushError is a push that got no answer to deliver. Sent: the request was written whole, so
// the endpoint may have the event (a timeout or a reset while it handled it); otherwise the
// endpoint could not be reached, or answered that it is unavailable (502, 503, 504: a proxy
// whose backend is down, a server starting), and does not have it.
type PushError struct {
	Sent bool
	Err  error
}

func (e *PushError) Error() string { return e.Err.Error() }
func (e *PushError) Unwrap() error { return e.Err }

// Unanswered reports whether err is a push the endpoint took but did not answer.
func Unanswered(err error) bool {
	var pe *PushError
	return errors.As(err, &pe) && pe.Sent
}

// Unavailable are the statuses that say the endpoint is not there to take events (yet): the
// event is kept and the endpoint counts as down, like one that cannot be reached.
func Unavailable(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// Post POSTs body (JSON) to rawURL with header, within timeout, and returns the answer,
// whatever its status, with up to MaxReply bytes of its body; no answer (also 502, 503, 504) is
// a *PushError. Errors never repeat the URL, which may carry a token.
func Post(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte, timeout time.Duration) (Answer, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sent atomic.Bool // the request was written whole
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	})
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Answer{}, &PushError{Err: fmt.Errorf("failed to build request: %w", err)}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL, which may carry a token
		}
		return Answer{}, &PushError{Sent: sent.Load(), Err: fmt.Errorf("failed to post: %w", err)}
	}
	defer resp.Body.Close()
	ans := Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	ans.Body, err = io.ReadAll(io.LimitReader(resp.Body, MaxReply))
	if err != nil && ans.OK() {
		// The status says the event was taken; a reply cut short is not run.
		ans.Body = nil
	}
	if Unavailable(resp.StatusCode) {
		return Answer{}, &PushError{Err: fmt.Errorf("endpoint answered %s: %.200s", resp.Status, ans.Body)}
	}
	return ans, nil
}

// Signature is the X-Signature header of a body: sha1=<hex HMAC-SHA1(secret, body)>.
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

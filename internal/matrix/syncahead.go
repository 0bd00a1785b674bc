package matrix

import (
	"context"
	"time"

	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
)

// syncCall is one /sync request in flight: the loop asks for the next batch as soon as it has the
// current one, and hands the current one over while the homeserver holds the request (its long
// poll), so that an event that arrives meanwhile is answered at once instead of waiting for the
// hand-over and a new request. The sync position moves only in handOver, after the events
// before it were handed over; the response of a call is read only after that.
type syncCall struct {
	since     string
	wake      time.Time // when the homeserver answers at the latest (the request's timeout)
	requested time.Time
	received  time.Time
	cancel    context.CancelFunc
	done      chan struct{}
	resp      *syncapi.Response
	err       error
}

// startSync sends a /sync request and returns at once.
func (s *syncer) startSync(ctx context.Context, since, filterID string, timeout time.Duration) *syncCall {
	cctx, cancel := context.WithCancel(ctx)
	now := time.Now()
	c := &syncCall{since: since, wake: now.Add(timeout), requested: now, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.resp, c.err = s.api.Sync(cctx, since, filterID, timeout)
		c.received = time.Now()
	}()
	return c
}

// wait returns the call's response.
func (c *syncCall) wait() (*syncapi.Response, error) {
	<-c.done
	c.cancel()
	return c.resp, c.err
}

// stop abandons the call (its answer, if any, is dropped: the same request is made again).
func (c *syncCall) stop() {
	c.cancel()
	<-c.done
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

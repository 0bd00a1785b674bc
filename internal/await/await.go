// Package await waits for something to end, but never past a deadline: the stops of the
// gateway (bots, transports, the cluster) each have one (GATEWAY_SHUTDOWN_TIMEOUT); and it
// sleeps, but never past the end of a context (retries, jitter).
package await

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx ends: then it returns ctx's error (nil when the whole wait
// happened).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Closed waits until done is closed or deadline passes; it tells whether done was closed.
func Closed(done <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// Returns runs wait in a goroutine of its own and waits until it returns or deadline passes; it
// tells whether wait returned (else wait goes on in the background).
func Returns(wait func(), deadline time.Time) bool {
	done := make(chan struct{})
	go func() { defer close(done); wait() }()
	return Closed(done, deadline)
}

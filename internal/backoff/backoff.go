// Package backoff computes exponential retry delays with jitter, shared by the Matrix sync loop
// and the OneBot reverse-WebSocket dialer.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff doubles its delay after each failure, from Initial up to Max. It is not safe for
// concurrent use; each retry loop owns one.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	next    time.Duration
}

// New returns a Backoff from initial to max.
func New(initial, max time.Duration) *Backoff {
	if initial <= 0 {
		initial = time.Second
	}
	if max < initial {
		max = initial
	}
	return &Backoff{Initial: initial, Max: max, next: initial}
}

// Next returns the delay to wait now (with jitter) and doubles the following one.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.Initial
	}
	d := Jitter(b.next)
	b.next = min(b.next*2, b.Max)
	return d
}

// Reset starts again from Initial, after a success.
func (b *Backoff) Reset() { b.next = b.Initial }

// Jitter spreads retries of many clients: a random duration in [d/2, d*3/2).
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

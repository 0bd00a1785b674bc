// Package fleet runs many bots in one process: it spreads their starts so that a restart does
// not stampede the homeserver (Gate), shares one HTTP transport per homeserver (Transports),
// and adds, removes and restarts bots while the process runs (Fleet).
package fleet

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// Gate bounds how many bots start at once: a start (login, end-to-end encryption set-up and the
// first /sync) holds one of its slots. Each start first waits a random part of the jitter, so
// that bots started together do not all ask in the same instant, then for a free slot.
//
// A slot is given back by the release function, or after MaxHold at the latest: a start that
// waits for something else (an OAuth login waiting for the operator's approval) must not hold
// the others back forever.
type Gate struct {
	// Metrics show the starts waiting for a slot and how long they waited (nil = none); set it
	// before the first Acquire.
	Metrics *metrics.Fleet

	slots   chan struct{}
	jitter  time.Duration
	maxHold time.Duration
}

// NewGate returns a gate of n slots (n < 1 is 1) that spreads starts over jitter (0 = none)
// and takes a slot back after maxHold (0 = only when released).
func NewGate(n int, jitter, maxHold time.Duration) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1)), jitter: jitter, maxHold: maxHold}
}

// Size is the number of slots.
func (g *Gate) Size() int { return cap(g.slots) }

// Acquire waits for the jitter and a free slot, or until ctx ends (then it returns ctx's error).
// The returned release gives the slot back; calling it more than once is harmless.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	if g.jitter > 0 {
		if err := await.Sleep(ctx, rand.N(g.jitter)); err != nil {
			return nil, err
		}
	}
	waited := g.Metrics.GateWaiting()
	select {
	case g.slots <- struct{}{}:
		waited()
	case <-ctx.Done():
		waited()
		return nil, ctx.Err()
	}
	var once sync.Once
	free := func() { once.Do(func() { <-g.slots }) }
	if g.maxHold <= 0 {
		return free, nil
	}
	t := time.AfterFunc(g.maxHold, free)
	return func() { t.Stop(); free() }, nil
}

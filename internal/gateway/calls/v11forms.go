package calls

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// --- _async and _rate_limited ------------------------------------------------------------

// detachedTimeout bounds an action run in the background (_async, _rate_limited).
const detachedTimeout = 5 * time.Minute

// rateLimitedEvery is the pace of _rate_limited actions (go-cqhttp's default: one a second),
// and rateLimitedMax how many may wait; more are refused.
const (
	rateLimitedEvery = time.Second
	rateLimitedMax   = 1000
)

// detachedMax is how many _async and _rate_limited actions may be running or waiting at once in
// the whole gateway; more are refused.
const detachedMax = 1000

// rateGate paces the _rate_limited actions of the whole gateway, and counts every detached one.
type rateGate struct {
	mu       sync.Mutex
	next     time.Time
	waiting  int
	detached atomic.Int64 // _async and _rate_limited actions running or waiting
}

// reserve returns how long a new call waits for its turn, or false when too many wait.
func (g *rateGate) reserve(now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting >= rateLimitedMax {
		return 0, false
	}
	g.waiting++
	if g.next.Before(now) {
		g.next = now
	}
	wait := g.next.Sub(now)
	g.next = g.next.Add(rateLimitedEvery)
	return wait, true
}

func (g *rateGate) done() {
	g.mu.Lock()
	g.waiting--
	g.mu.Unlock()
}

// v11Suffixed splits name into a v11 action and its go-cqhttp suffix (_async or
// _rate_limited); suffix is "" when name is an action as it is.
func v11Suffixed(name string) (base, suffix string) {
	if lookup(11, name) != nil {
		return name, ""
	}
	for _, sfx := range []string{"_async", "_rate_limited"} {
		if b, ok := strings.CutSuffix(name, sfx); ok && lookup(11, b) != nil {
			return b, sfx
		}
	}
	return name, ""
}

// KnownV11 reports whether name is a v11 action, as it is or in its _async or _rate_limited form.
func KnownV11(name string) bool {
	base, _ := v11Suffixed(name)
	return lookup(11, base) != nil
}

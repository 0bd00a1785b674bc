// Package wait is how tests wait: on a condition, polled on a ticker, with a deadline — never a
// fixed sleep.
package wait

import (
	"testing"
	"time"
)

// Tick is how often a condition is polled.
const Tick = 5 * time.Millisecond

// Until polls cond until it holds (true) or timeout passes (false). For goroutines other than the
// test's own, which cannot call t.Fatal.
func Until(timeout time.Duration, cond func() bool) bool {
	tick := time.NewTicker(Tick)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// For fails the test unless cond holds within timeout; what names the awaited condition.
func For(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

package metrics

import (
	"testing"
	"time"
)

// BenchmarkEventInOut is what the hub records per incoming event with one target: EventIn and
// EventOut (issue 12: a few µs per delivery in all).
func BenchmarkEventInOut(b *testing.B) {
	m := New()
	ts := time.Now()
	for b.Loop() {
		m.EventIn("@bot:example.org", "message", ts)
		m.EventOut("@bot:example.org", TransportWS)
	}
}

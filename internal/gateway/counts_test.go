package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/metrics"
)

// events_out counts every connection an event was queued on, per transport, also when the
// connections of a transport are counted together (counts.go) and with more transports than
// transportCounts keeps in place.
func TestEventsOutCountsEveryConnection(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	perTransport := map[string]int{metrics.TransportWS: 3}
	for i := range 5 {
		perTransport[fmt.Sprintf("t%d", i)] = i + 1
	}
	var sinks []*sink
	for transport, n := range perTransport {
		for range n {
			s := push.NewSink(12, "", true)
			s.Transport = transport
			h.fan.subscribe(s)
			sinks = append(sinks, s)
		}
	}
	for range 2 {
		if err := h.Publish(context.Background(), sampleEvent(false)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range sinks {
		nextFrame(t, s)
		nextFrame(t, s)
	}
	got := h.metrics.BotCounters(string(bot.ID))
	for transport, n := range perTransport {
		k := fmt.Sprintf(`events_out_total{transport=%q}`, transport)
		if got[k] != float64(2*n) {
			t.Errorf("%s = %v, want %d (two events to %d connections)", k, got[k], 2*n, n)
		}
	}
}

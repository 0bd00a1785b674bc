package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Publish lets the writers it woke run after an event, but for one bot at most once per
// writerYieldEvery: under a burst each writer then takes many frames per wake-up (issue 12: a
// yield per event and connection doubled the gateway's CPU per delivery). Every frame is queued
// either way, and another bot's event yields by itself.
func TestPublishYieldsToWritersAtMostOncePerInterval(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	second := newSecondBot()
	h.AddBot(second, 10002)
	now := time.Unix(1_700_000_000, 0)
	yields := 0
	h.writers = writerYield{now: func() time.Time { return now }, yield: func() { yields++ }}
	live := push.NewSink(12, "", true)
	h.fan.subscribe(live)
	publish := func(n int) {
		t.Helper()
		ev := sampleEvent(false)
		ev.ID = fmt.Sprintf("$burst%d", n)
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if fr := nextFrame(t, live); fr["id"] != ev.ID {
			t.Fatalf("frame %v, want event %s", fr, ev.ID)
		}
	}
	for n := range 5 { // a burst: the clock does not move
		publish(n)
	}
	if yields != 1 {
		t.Fatalf("%d yields for a burst of 5 events of one bot, want 1", yields)
	}
	now = now.Add(writerYieldEvery - time.Microsecond)
	publish(5)
	if yields != 1 {
		t.Fatalf("%d yields within writerYieldEvery of the last, want 1", yields)
	}
	now = now.Add(time.Microsecond)
	publish(6)
	if yields != 2 {
		t.Fatalf("%d yields once writerYieldEvery has passed, want 2", yields)
	}
	ev := sampleEvent(false)
	ev.Self, ev.ID = second.ID, "$other-bot"
	if err := h.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, live)
	if yields != 3 {
		t.Fatalf("%d yields after another bot's first event, want 3", yields)
	}
}

// Publish lets the deliverer of an outbox run once it has handed it an event (push.AppendAll
// woke it), also when no connection without an outbox took the event, and not when the
// deliverer was not waiting (its wake-up was still pending).
func TestPublishYieldsToTheDelivererItWoke(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	now := time.Unix(1_700_000_000, 0)
	yields := 0
	h.writers = writerYield{now: func() time.Time { return now }, yield: func() { yields++ }}
	ctx, cancel := context.WithCancel(context.Background())
	f := h.push.NewFeed(ctx, "k", 12, "", true, "webhook") // its deliverer does not run: the wake-up stays pending
	t.Cleanup(func() { cancel(); f.Close() })
	for n, want := range []int{1, 1} {
		ev := sampleEvent(false)
		ev.ID = fmt.Sprintf("$e%d", n)
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if yields != want {
			t.Fatalf("after event %d: %d yields, want %d", n, yields, want)
		}
		now = now.Add(time.Second)
	}
}

package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// failingOutbox fails its first fail writes, then takes them.
type failingOutbox struct {
	OutboxStore
	fail int
}

func (o *failingOutbox) OutboxAppendAll(context.Context, []storage.OutboxFrame, time.Time, storage.OutboxLimits) (storage.OutboxAppended, error) {
	if o.fail > 0 {
		o.fail--
		return storage.OutboxAppended{}, errors.New("disk full")
	}
	return storage.OutboxAppended{}, nil
}

// An event whose outbox write failed is handed over again by the sync loop: the admin page lists
// it once, not once per try.
func TestRetriedPublishIsListedOnce(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = &failingOutbox{OutboxStore: db.Outbox(), fail: 1}
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	ctx, cancel := context.WithCancel(context.Background())
	f := h.push.NewFeed(ctx, "k", 12, "", true, "webhook") // an endpoint with an outbox
	t.Cleanup(func() { cancel(); f.Close() })
	ev := sampleEvent(false)
	if err := h.Publish(context.Background(), ev); err == nil {
		t.Fatal("Publish succeeded although the outbox write failed")
	}
	if err := h.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := h.recent.Snapshot()[ev.Self]; len(got) != 1 {
		t.Fatalf("admin page lists %d events after one event tried twice, want 1: %+v", len(got), got)
	}
}

// gatedOutbox holds each append until release is closed.
type gatedOutbox struct {
	OutboxStore
	release chan struct{}
}

func (o gatedOutbox) OutboxAppendAll(ctx context.Context, f []storage.OutboxFrame, at time.Time, l storage.OutboxLimits) (storage.OutboxAppended, error) {
	select {
	case <-o.release:
	case <-ctx.Done():
		return storage.OutboxAppended{}, ctx.Err()
	}
	return o.OutboxStore.OutboxAppendAll(ctx, f, at, l)
}

// A connection without an outbox gets an event without waiting for the outboxes' commit (issue
// 12: the commit was on the way of every event to every client).
func TestLiveConnectionDoesNotWaitForTheOutbox(t *testing.T) {
	h, _, db := newTestHub(t, "")
	release := make(chan struct{})
	h.opts.Outbox = gatedOutbox{OutboxStore: db.Outbox(), release: release}
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	ctx, cancel := context.WithCancel(context.Background())
	f := h.push.NewFeed(ctx, "k", 12, "", true, "webhook") // an endpoint with an outbox
	t.Cleanup(func() { cancel(); f.Close() })
	live := push.NewSink(12, "", true)
	h.fan.subscribe(live)
	done := make(chan error, 1)
	go func() { done <- h.Publish(context.Background(), sampleEvent(false)) }()
	if fr := nextFrame(t, live); fr["type"] != "message" {
		t.Fatalf("live connection got %v, want the message", fr)
	}
	select {
	case err := <-done:
		t.Fatalf("Publish returned (%v) before the outbox write was let through", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// When the outboxes' commit fails after a connection without an outbox took the event, the sync
// loop publishes it again: that connection does not get it twice, the outbox gets it once.
func TestRetriedPublishReachesALiveConnectionOnce(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = &failingOutbox{OutboxStore: db.Outbox(), fail: 2}
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	ctx, cancel := context.WithCancel(context.Background())
	f := h.push.NewFeed(ctx, "k", 12, "", true, "webhook")
	t.Cleanup(func() { cancel(); f.Close() })
	live := push.NewSink(12, "", true)
	h.fan.subscribe(live)
	ev := sampleEvent(false)
	for try := 1; try <= 2; try++ {
		if err := h.Publish(context.Background(), ev); err == nil {
			t.Fatalf("try %d: Publish succeeded although the outbox write failed", try)
		}
	}
	if err := h.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	nextFrame(t, live)
	noFrame(t, live)
	other := sampleEvent(false)
	other.ID = "$other"
	if err := h.Publish(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if fr := nextFrame(t, live); fr["id"] != "$other" {
		t.Fatalf("next frame %v, want the next event", fr)
	}
}

// When the outbox that failed its commit is gone by the time the sync loop publishes the event
// again (its endpoint stopped), the connection without an outbox that took the event on the
// first try still counts as having it: Publish does not hold the event for a client that would
// then be given it a second time.
func TestRetriedPublishWithoutTheOutboxCountsTheLiveConnection(t *testing.T) {
	h, _, db := newTestHub(t, "")
	h.opts.Outbox = &failingOutbox{OutboxStore: db.Outbox(), fail: 1}
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := h.push.NewFeed(ctx, "k", 12, "", true, "webhook")
	live := push.NewSink(12, "", true)
	h.fan.subscribe(live)
	ev := sampleEvent(false)
	if err := h.Publish(context.Background(), ev); err == nil {
		t.Fatal("Publish succeeded although the outbox write failed")
	}
	nextFrame(t, live)
	cancel()
	f.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	done := make(chan error, 1)
	go func() { done <- h.Publish(pctx, ev) }()
	// A client that connects now is not the one that had the event: were Publish holding the
	// event for it, the live connection would get it again.
	late := push.NewSink(12, "", true)
	h.fan.subscribe(late)
	if err := <-done; err != nil {
		t.Fatalf("Publish of the retried event: %v (held it although a connection had it)", err)
	}
	noFrame(t, live)
}

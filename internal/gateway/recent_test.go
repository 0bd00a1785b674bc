package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// failingOutbox fails its first fail writes, then takes them.
type failingOutbox struct {
	OutboxStore
	fail int
}

func (o *failingOutbox) OutboxAppendAll(context.Context, []storage.OutboxFrame, time.Time, storage.OutboxLimits) (map[string]int64, error) {
	if o.fail > 0 {
		o.fail--
		return nil, errors.New("disk full")
	}
	return map[string]int64{}, nil
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

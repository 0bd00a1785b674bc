package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/harness"
)

// With the database's disk full, Publish writes the outbox first: when that write (or the v11
// ID map) fails, it returns the error and no connection has the event, so the sync loop retries
// it; once space returns the event reaches the outbox and every connection exactly once.
func TestPublishWhenDiskIsFullIsAllOrNothing(t *testing.T) {
	disk := harness.MountSmallDisk(t, 8<<20)
	db, err := storage.Open(context.Background(), filepath.Join(disk.Dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	h, _, _ := newTestHub(t, "")
	h.opts.IDs = db.IDs()
	h.faces.initFaces() // the faces take their options (the v11 ID map) when made
	h.opts.Outbox = db.Outbox()
	h.opts.OutboxLimits = storage.OutboxLimits{MaxEvents: 100}
	peer := newReversePeer(t)
	peer.refuse.Store(true) // down: its frames wait in the outbox
	runReverse(t, h, ReverseWS{URL: peer.url(), Version: 12, Outbox: true})
	key := push.EndpointKey("v12-ws", peer.url(), "")
	v12, v11 := push.NewSink(12, "", true), push.NewSink(11, "@bot:example.org", true) // forward WebSockets
	h.fan.subscribe(v12)
	h.fan.subscribe(v11)
	waitUntil(t, "the reverse WebSocket's feed to subscribe", func() bool { n11, n12 := h.Connections(); return n11+n12 == 3 })

	ev := sampleEvent(false)
	ev.ID, ev.Message.EventID = "$while-full:example.org", "$while-full:example.org"
	disk.Fill()
	err = h.Publish(context.Background(), ev)
	if err == nil {
		t.Fatal("Publish succeeded with the disk full: the event is not in the outbox, yet the sync position would move on")
	}
	if !storage.IsDiskFull(err) || !strings.Contains(db.Problem(err), "database disk is full") {
		t.Errorf("error %v (%q) does not say the disk is full", err, db.Problem(err))
	}
	if len(v12.Out()) != 0 || len(v11.Out()) != 0 {
		t.Fatalf("a forward connection got the event although the outbox write failed (v12 %d, v11 %d frames): it would get it again on the retry", len(v12.Out()), len(v11.Out()))
	}

	disk.Free()
	if err := h.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish after space returned: %v", err)
	}
	rows, err := db.Outbox().OutboxPeek(context.Background(), key, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(string(rows[0].Payload), "$while-full") {
		t.Fatalf("outbox has %d frames, want the event once", len(rows))
	}
	if len(v12.Out()) != 1 || len(v11.Out()) != 1 {
		t.Fatalf("forward connections got v12 %d, v11 %d frames, want the event once each", len(v12.Out()), len(v11.Out()))
	}
}

// A bot that has not joined the hub yet (its start fails: login, self_id) is on /readyz and, once
// its user ID is known, in get_status, with its state and the reason; the gateway is not ready
// until it has joined and syncs.
func TestReadyzAndGetStatusShowABotThatFailsToStart(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	late := newSecondBot()
	late.Control.SetStatus(model.BotStatus{State: model.StateBackoff, Reason: "database disk is full: free space"})
	h.Expect(late)
	rep := h.Ready()
	if rep.Ready || len(rep.Bots) != 2 || rep.Bots[0].UserID != string(late.ID) || rep.Bots[0].State != "backoff" ||
		!strings.Contains(rep.Bots[0].Reason, "disk is full") {
		t.Fatalf("readyz %+v: want not ready, the late bot in backoff with its reason", rep)
	}
	st := h.faces.v12StatusData(nil)
	if st.Good || len(st.Bots) != 2 || st.Bots[0].Self.UserID != string(late.ID) || !strings.Contains(st.Bots[0].Reason, "disk is full") {
		t.Fatalf("get_status %+v: want the late bot with its reason", st)
	}
	late.Control.SetStatus(model.BotStatus{State: model.StateSyncing})
	h.AddBot(late, 10002)
	if rep := h.Ready(); !rep.Ready || len(rep.Bots) != 2 {
		t.Fatalf("readyz after the bot joined: %+v", rep)
	}
}

// An event the sync loop hands over again after a cut-off run is marked as replayed on every
// connection, once (a frame marked already is not marked again when it is replayed from the
// outbox).
func TestReplayedEventIsMarkedOnce(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	v12, v11 := push.NewSink(12, "", true), push.NewSink(11, "@bot:example.org", true)
	h.fan.subscribe(v12)
	h.fan.subscribe(v11)
	ev := sampleEvent(false)
	ev.Replayed = true
	if err := h.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	f12, f11 := <-v12.Out(), <-v11.Out()
	if strings.Count(string(f12), `"matrix.replayed":true`) != 1 || strings.Count(string(f11), `"matrix_replayed":true`) != 1 {
		t.Fatalf("frames not marked once:\nv12 %s\nv11 %s", f12, f11)
	}
	if again := h.faces.v12.MarkReplayed(f12); string(again) != string(f12) {
		t.Fatalf("marked twice: %s", again)
	}
}

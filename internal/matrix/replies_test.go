package matrix

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// A reply to a message the gateway never saw gets its sender from the homeserver. The sync loop
// does not ask for those one after another, each lookup holding the batch for up to its
// timeout: a batch's lookups, in all its rooms, are asked together (the fake answers none until
// all three have arrived), and a replied-to event already looked up is not asked for again. No
// reply loses its sender.
func TestReplyTargetsAreLookedUpTogetherAndOnce(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	for p, room := range map[id.EventID]id.RoomID{"$p1": roomA, "$p2": roomA, "$p3": roomB} {
		h.hs.SetEvent(room, p, fakes.JSONResponse(http.StatusOK, map[string]any{
			"type": "m.room.message", "event_id": p, "room_id": room, "sender": aliceID, "origin_server_ts": now.Add(-time.Hour).UnixMilli(),
			"content": map[string]any{"msgtype": "m.text", "body": "before the gateway"},
		}))
	}
	h.hs.HoldEvents(3)
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{
			roomA: timeline(replyTo("$r1", bobID, "$p1", "one"), replyTo("$r2", bobID, "$p2", "two")),
			roomB: timeline(replyTo("$r3", bobID, "$p3", "three")),
		}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(replyTo("$r4", bobID, "$p1", "one again"))}),
	)
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents = true })
	start(t, s)
	waitEvents(t, sink, 4)
	assertEventIDs(t, sink, "$r1", "$r2", "$r3", "$r4")
	want := map[string]string{"$r1": "$p1", "$r2": "$p2", "$r3": "$p3", "$r4": "$p1"}
	for _, ev := range sink.Events() {
		var reply *model.Reply
		for _, seg := range ev.Message.Segments {
			if r, ok := seg.(model.Reply); ok {
				reply = &r
			}
		}
		if reply == nil || reply.Event != id.EventID(want[ev.ID]) || reply.Sender != aliceID {
			t.Errorf("%s: reply segment %v, want %s by %s", ev.ID, reply, want[ev.ID], aliceID)
		}
	}
	var lookups []string
	for _, r := range h.hs.Requests() {
		if strings.Contains(r.Path, "/event/") {
			lookups = append(lookups, r.Path)
		}
	}
	if len(lookups) != 3 {
		t.Errorf("%d event lookups, want 3 (one per replied-to event): %v", len(lookups), lookups)
	}
}

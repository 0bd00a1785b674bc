package matrix

import (
	"context"
	"errors"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

const (
	bobID     id.UserID = "@bob:example.org"
	malloryID id.UserID = "@mallory:example.org"
)

func replyTo(evtID string, sender id.UserID, target, body string) map[string]any {
	m := message(evtID, sender, time.Now(), body)
	m["content"].(map[string]any)["m.relates_to"] = map[string]any{"m.in_reply_to": map[string]any{"event_id": target}}
	return m
}

// The bot is in room A and in a private room B. Whatever someone in A relates to an event of B
// (a reply, a reaction, an edit, a redaction) is never resolved across the rooms: the client of
// A gets no reply segment, so neither B's sender nor, through get_msg, B's text.
func TestRelationsNeverCrossRooms(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	now := time.Now()
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomB: timeline(message("$secret", bobID, now, "the secret"))}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(
			message("$a0", aliceID, now, "hello"),
			replyTo("$ok", aliceID, "$a0", "a reply in the same room"),
			replyTo("$ask", malloryID, "$secret", "what did bob say?"),
			replyTo("$unknown", malloryID, "$nowhere", "a reply to an event nobody can show is in A"),
			map[string]any{"type": "m.reaction", "event_id": "$react", "sender": malloryID, "origin_server_ts": now.UnixMilli(),
				"content": map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": "$secret", "key": "👀"}}},
			map[string]any{"type": "m.room.redaction", "event_id": "$redact", "sender": malloryID, "origin_server_ts": now.UnixMilli(),
				"redacts": "$secret", "content": map[string]any{"redacts": "$secret"}},
			map[string]any{"type": "m.room.message", "event_id": "$edit", "sender": bobID, "origin_server_ts": now.UnixMilli(),
				"content": map[string]any{"msgtype": "m.text", "body": "* changed", "m.new_content": map[string]any{"msgtype": "m.text", "body": "changed"},
					"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": "$secret"}}},
			message("$end", aliceID, now, "end"),
		)}),
	)
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents = true })
	start(t, s)
	waitUntil(t, "the last message of room A", sink.Changed, func() bool {
		ids := sink.EventIDs()
		return len(ids) > 0 && ids[len(ids)-1] == "$end"
	})
	assertEventIDs(t, sink, "$secret", "$a0", "$ok", "$ask", "$unknown", "$end") // no reaction, deletion or edit

	replyOf := func(ev *model.Event) *model.Reply {
		for _, seg := range ev.Message.Segments {
			if r, ok := seg.(model.Reply); ok {
				return &r
			}
		}
		return nil
	}
	for _, ev := range sink.Events() {
		r := replyOf(ev)
		switch ev.ID {
		case "$ok":
			if r == nil || r.Event != "$a0" || r.Sender != aliceID {
				t.Errorf("reply within room A: segment %v, want $a0 by alice", r)
			}
		case "$ask", "$unknown":
			if r != nil {
				t.Errorf("%s: reply segment %v handed to room A's client", ev.ID, r)
			}
		}
	}
	// get_msg converts the indexed message again: still no reply segment.
	ev, err := s.bot.out.GetMessage(context.Background(), "$ask")
	if err != nil {
		t.Fatal(err)
	}
	if r := replyOf(ev); r != nil {
		t.Errorf("get_msg of $ask: reply segment %v", r)
	}
	// The redaction from room A did not touch B's message.
	ev, err = s.bot.out.GetMessage(context.Background(), "$secret")
	if err != nil || ev.Message.Plain != "the secret" {
		t.Errorf("B's message after a redaction sent in A: %v %v, want it intact", ev, err)
	}
}

// get_msg does not answer a message of a room the bot has left.
func TestGetMessageOfALeftRoom(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	state := newStateStore(t, h)
	now := time.Now()
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomB: timeline(message("$said", bobID, now, "said while the bot was there"))}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(message("$end", aliceID, now, "end"))}),
	)
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents, o.StateStore = true, state })
	start(t, s)
	waitEvents(t, sink, 2)
	ctx := context.Background()
	if _, err := s.bot.out.GetMessage(ctx, "$said"); err != nil {
		t.Fatalf("get_msg while the bot is in the room: %v", err)
	}
	if err := state.SetMembership(ctx, roomB, botID, event.MembershipLeave); err != nil {
		t.Fatal(err)
	}
	_, err := s.bot.out.GetMessage(ctx, "$said")
	var ae *model.ActionError
	if !errors.As(err, &ae) || ae.Kind != model.ErrNotFound {
		t.Fatalf("get_msg after the bot left the room: %v, want a not-found error", err)
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

// human is a Matrix user played by the test through its own sync loop.
type human struct {
	t     testing.TB
	user  *harness.User
	cli   *mautrix.Client
	since string
}

func newHuman(t testing.TB, prefix string) *human { return humanOn(t, hs, prefix) }

// humanOn is newHuman on a given homeserver.
func humanOn(t testing.TB, server *harness.Homeserver, prefix string) *human {
	t.Helper()
	u, err := server.RegisterUniqueUser(testCtx(t), prefix)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := server.Client(u)
	if err != nil {
		t.Fatal(err)
	}
	h := &human{t: t, user: u, cli: cli}
	resp, err := cli.SyncRequest(testCtx(t), 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	h.since = resp.NextBatch
	return h
}

func newBotUser(t testing.TB) *harness.User {
	t.Helper()
	u, err := hs.RegisterUniqueUser(testCtx(t), "bot")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// roomWith creates a room and invites the bot; the bot accepts through auto-accept.
func (h *human) roomWith(bot *harness.User, direct bool) id.RoomID {
	h.t.Helper()
	req := &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{id.UserID(bot.UserID)}, IsDirect: direct}
	resp, err := h.cli.CreateRoom(testCtx(h.t), req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.RoomID
}

// waitJoined waits until u's membership in room is join.
func (h *human) waitJoined(room id.RoomID, u *harness.User) {
	h.t.Helper()
	waitFor(h.t, fmt.Sprintf("%s to join %s", u.UserID, room), func() bool {
		var m event.MemberEventContent
		err := h.cli.StateEvent(testCtx(h.t), room, event.StateMember, u.UserID, &m)
		return err == nil && m.Membership == event.MembershipJoin
	})
}

func (h *human) send(room id.RoomID, text string) id.EventID {
	h.t.Helper()
	resp, err := h.cli.SendText(testCtx(h.t), room, text)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.EventID
}

// waitMessage syncs until a message from sender in room matches pred.
func (h *human) waitMessage(room id.RoomID, sender string, pred func(*event.MessageEventContent) bool) *event.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for {
		resp, err := h.cli.SyncRequest(ctx, 5000, h.since, "", false, "")
		if err != nil {
			h.t.Fatalf("waiting for a message from %s: %v", sender, err)
		}
		h.since = resp.NextBatch
		if r, ok := resp.Rooms.Join[room]; ok {
			for _, evt := range r.Timeline.Events {
				if evt.Type != event.EventMessage || string(evt.Sender) != sender {
					continue
				}
				_ = evt.Content.ParseRaw(evt.Type)
				if c, ok := evt.Content.Parsed.(*event.MessageEventContent); ok && pred(c) {
					return evt
				}
			}
		}
		if ctx.Err() != nil {
			h.t.Fatalf("no matching message from %s in %s within %v", sender, room, deadline)
		}
	}
}

package e2e

import (
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// nextEvent returns the next event frame, meta events skipped.
func (c *obClient) nextEvent() map[string]any {
	c.t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatal("OneBot connection closed while waiting for an event")
			}
			if f["type"] != "meta" {
				return f
			}
		case <-timeout:
			c.t.Fatal("no event within the deadline")
		}
	}
}

// expect reads the next event and checks the given keys.
func (c *obClient) expect(want map[string]any) map[string]any {
	c.t.Helper()
	f := c.nextEvent()
	for k, v := range want {
		if fmt.Sprint(f[k]) != fmt.Sprint(v) {
			c.t.Fatalf("next event has %s=%v, want %v\nevent: %v", k, f[k], v, f)
		}
	}
	return f
}

// skipUntil drops events until one matches want (the events of a room's history that the bot
// is told about when it joins come first) and returns it.
func (c *obClient) skipUntil(want map[string]any) map[string]any {
	c.t.Helper()
	for {
		f := c.nextEvent()
		match := true
		for k, v := range want {
			if fmt.Sprint(f[k]) != fmt.Sprint(v) {
				match = false
			}
		}
		if match {
			return f
		}
	}
}

// join makes h join room (after an invite).
func (h *human) join(room id.RoomID) {
	h.t.Helper()
	if _, err := h.cli.JoinRoomByID(testCtx(h.t), room); err != nil {
		h.t.Fatal(err)
	}
}

func (h *human) invite(room id.RoomID, u string) {
	h.t.Helper()
	if _, err := h.cli.InviteUser(testCtx(h.t), room, &mautrix.ReqInviteUser{UserID: id.UserID(u)}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *human) sendContent(room id.RoomID, t event.Type, content any) id.EventID {
	h.t.Helper()
	resp, err := h.cli.SendMessageEvent(testCtx(h.t), room, t, content)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp.EventID
}

// Every Matrix event kind the gateway turns into a OneBot event, as a v12 client sees it, in
// the order they happened: a member joins after an invite, a reaction, an edit, a spoofed edit
// (dropped), a recall, typing, a read receipt, a kick, and an invite the bot leaves to the
// client (accepted with matrix.accept_invite).
func TestEventsReachOneBotClient(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	bob := newHuman(t, "bob")
	carol := newHuman(t, "carol")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS": botJSON(bot, map[string]any{
			"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.user.UserID},
		}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token", "GATEWAY_TYPING_EVENTS": "true", "GATEWAY_RECEIPT_EVENTS": "true",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, "e2e-token")
	ready := alice.send(room, "ready")
	ob.skipUntil(map[string]any{"type": "message", "message_id": ready})

	// Membership: bob joins after alice's invite.
	alice.invite(room, bob.user.UserID)
	bob.join(room)
	ob.expect(map[string]any{"type": "notice", "detail_type": "group_member_increase", "sub_type": "invite",
		"group_id": room, "user_id": bob.user.UserID, "operator_id": alice.user.UserID})

	// A message, a reaction to it, an edit by its sender.
	m1 := alice.send(room, "first")
	ob.expect(map[string]any{"type": "message", "message_id": m1})
	reaction := alice.sendContent(room, event.EventReaction, &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: m1, Key: "👍"}})
	ob.expect(map[string]any{"type": "notice", "detail_type": "matrix.reaction", "message_id": m1, "key": "👍",
		"reaction_id": reaction, "user_id": alice.user.UserID, "group_id": room})
	edit := &event.MessageEventContent{MsgType: event.MsgText, Body: "first, fixed"}
	edit.SetEdit(m1) // m.new_content is the message above
	editID := alice.sendContent(room, event.EventMessage, edit)
	f := ob.expect(map[string]any{"type": "notice", "detail_type": "matrix.message_edit", "message_id": m1, "edit_id": editID,
		"user_id": alice.user.UserID, "alt_message": "first, fixed"})
	if msg, _ := f["message"].([]any); len(msg) != 1 {
		t.Fatalf("edit message segments: %v", f["message"])
	}

	// bob "edits" alice's message: the homeserver accepts it, the gateway drops it as spoofed.
	spoof := &event.MessageEventContent{MsgType: event.MsgText, Body: "pwned"}
	spoof.SetEdit(m1)
	bob.sendContent(room, event.EventMessage, spoof)
	marker := alice.send(room, "marker")
	ob.expect(map[string]any{"type": "message", "message_id": marker}) // nothing in between

	// alice recalls her message.
	redaction, err := alice.cli.RedactEvent(testCtx(t), room, m1, mautrix.ReqRedact{Reason: "oops"})
	if err != nil {
		t.Fatal(err)
	}
	ob.expect(map[string]any{"type": "notice", "detail_type": "group_message_delete", "sub_type": "recall",
		"message_id": m1, "user_id": alice.user.UserID, "operator_id": alice.user.UserID, "group_id": room,
		"matrix.event_id": redaction.EventID})

	// Typing and read receipts (opted in).
	if _, err := bob.cli.UserTyping(testCtx(t), room, true, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	f = ob.expect(map[string]any{"type": "notice", "detail_type": "matrix.typing", "group_id": room})
	if users, _ := f["user_ids"].([]any); len(users) != 1 || users[0] != bob.user.UserID {
		t.Fatalf("typing users: %v", f["user_ids"])
	}
	if _, err := bob.cli.UserTyping(testCtx(t), room, false, 0); err != nil {
		t.Fatal(err)
	}
	f = ob.expect(map[string]any{"type": "notice", "detail_type": "matrix.typing"})
	if users, _ := f["user_ids"].([]any); len(users) != 0 {
		t.Fatalf("typing users after stop: %v", f["user_ids"])
	}
	if err := bob.cli.SendReceipt(testCtx(t), room, marker, event.ReceiptTypeRead, nil); err != nil {
		t.Fatal(err)
	}
	ob.expect(map[string]any{"type": "notice", "detail_type": "matrix.receipt", "user_id": bob.user.UserID,
		"message_id": marker, "receipt_type": "m.read"})

	// alice kicks bob.
	if _, err := alice.cli.KickUser(testCtx(t), room, &mautrix.ReqKickUser{UserID: id.UserID(bob.user.UserID), Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	ob.expect(map[string]any{"type": "notice", "detail_type": "group_member_decrease", "sub_type": "kick",
		"user_id": bob.user.UserID, "operator_id": alice.user.UserID})

	// carol is not on the whitelist: her invite becomes a request the client accepts.
	carolRoom := carol.roomWith(bot, false)
	ob.expect(map[string]any{"type": "request", "detail_type": "matrix.invite", "group_id": carolRoom,
		"user_id": carol.user.UserID, "is_direct": false})
	resp := g.actionV12("e2e-token", "matrix.accept_invite", map[string]any{"group_id": carolRoom})
	if resp["retcode"] != float64(0) {
		t.Fatalf("matrix.accept_invite: %v", resp)
	}
	carol.waitJoined(carolRoom, bot)
	ob.skipUntil(map[string]any{"type": "notice", "detail_type": "group_member_increase", "group_id": carolRoom, "user_id": bot.UserID})
}

package e2e

import (
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The v11 actions that have a Matrix counterpart, each effect checked from the Matrix side:
// set_group_admin (power level 50 and back), set_group_whole_ban (events_default 50 and
// back), set_group_card for the bot itself (its per-room display name), get_group_honor_info
// (empty), can_send_image, a send_group_msg_async, and .handle_quick_operation.
func TestV11ModerationAgainstSynapse(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	bob := newHuman(t, "bob")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.invite(room, bob.user.UserID)
	bob.join(room)
	pl := alice.levels(room)
	pl.SetUserLevel(id.UserID(bot.UserID), 100) // a room admin bot: it may also take levels away
	if _, err := alice.cli.SendStateEvent(testCtx(t), room, event.StatePowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
	v11 := func(action string, params map[string]any) map[string]any {
		t.Helper()
		resp := actionV11(t, g, "e2e-token", action, params)
		if resp["retcode"] != float64(0) && resp["retcode"] != float64(1) {
			t.Fatalf("%s %v: %v", action, params, resp)
		}
		return resp
	}
	group := v11("get_group_list", nil)["data"].([]any)[0].(map[string]any)["group_id"]
	num := map[string]any{}
	for _, m := range v11("get_group_member_list", map[string]any{"group_id": group})["data"].([]any) {
		mm := m.(map[string]any)
		num[mm["matrix_user_id"].(string)] = mm["user_id"]
	}
	waitFor(t, "the bot's power level to show", func() bool {
		d, _ := actionV11(t, g, "e2e-token", "get_group_member_info", map[string]any{"group_id": group, "user_id": num[bot.UserID]})["data"].(map[string]any)
		return d["role"] == "owner"
	})

	v11("set_group_admin", map[string]any{"group_id": group, "user_id": num[bob.user.UserID]})
	if l, ok := alice.userEntry(room, bob.user.UserID); !ok || l != 50 {
		t.Fatalf("bob after set_group_admin: %d %v", l, ok)
	}
	v11("set_group_admin", map[string]any{"group_id": group, "user_id": num[bob.user.UserID], "enable": false})
	if l, ok := alice.userEntry(room, bob.user.UserID); ok {
		t.Fatalf("bob after set_group_admin enable false: level %d of his own", l)
	}

	v11("set_group_whole_ban", map[string]any{"group_id": group})
	if d := alice.levels(room).EventsDefault; d != 50 {
		t.Fatalf("events_default after set_group_whole_ban: %d", d)
	}
	if bob.canSend(room, "whole room muted?") {
		t.Fatal("bob could send in a muted room")
	}
	v11("set_group_whole_ban", map[string]any{"group_id": group, "enable": false})
	if d := alice.levels(room).EventsDefault; d != 0 || !bob.canSend(room, "unmuted") {
		t.Fatalf("events_default after set_group_whole_ban false: %d", d)
	}

	v11("set_group_card", map[string]any{"group_id": group, "user_id": num[bot.UserID], "card": "Helper"})
	var me event.MemberEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StateMember, bot.UserID, &me); err != nil || me.Displayname != "Helper" || me.Membership != event.MembershipJoin {
		t.Fatalf("the bot's member event after set_group_card: %+v %v", me, err)
	}
	if resp := actionV11(t, g, "e2e-token", "set_group_card", map[string]any{"group_id": group, "user_id": num[bob.user.UserID], "card": "x"}); resp["retcode"] != float64(1400) {
		t.Fatalf("set_group_card for bob: %v", resp)
	}

	honor := v11("get_group_honor_info", map[string]any{"group_id": group, "type": "all"})["data"].(map[string]any)
	if l, _ := honor["talkative_list"].([]any); l == nil || len(l) != 0 {
		t.Fatalf("get_group_honor_info: %v", honor)
	}
	if d := v11("can_send_image", nil)["data"].(map[string]any); d["yes"] != true {
		t.Fatalf("can_send_image: %v", d)
	}

	if resp := v11("send_group_msg_async", map[string]any{"group_id": group, "message": "in the background"}); resp["status"] != "async" {
		t.Fatalf("send_group_msg_async: %v", resp)
	}
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "in the background" })

	v11(".handle_quick_operation", map[string]any{
		"context":   map[string]any{"post_type": "message", "message_type": "group", "group_id": group, "user_id": num[alice.user.UserID], "message_id": 1},
		"operation": map[string]any{"reply": "quick", "at_sender": false},
	})
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "quick" })
}

// The matrix.* extras in v11 form take and answer v11 numbers; each effect is checked from the
// Matrix side.
func TestV11MatrixExtrasAgainstSynapse(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	bob := newHuman(t, "bob")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.invite(room, bob.user.UserID)
	bob.join(room)
	pl := alice.levels(room)
	pl.SetUserLevel(id.UserID(bot.UserID), 100)
	if _, err := alice.cli.SendStateEvent(testCtx(t), room, event.StatePowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
	v11 := func(action string, params map[string]any) map[string]any {
		t.Helper()
		resp := actionV11(t, g, "e2e-token", action, params)
		if resp["retcode"] != float64(0) {
			t.Fatalf("%s %v: %v", action, params, resp)
		}
		d, _ := resp["data"].(map[string]any)
		return d
	}
	group := actionV11(t, g, "e2e-token", "get_group_list", nil)["data"].([]any)[0].(map[string]any)["group_id"]
	num := map[string]any{}
	for _, m := range actionV11(t, g, "e2e-token", "get_group_member_list", map[string]any{"group_id": group})["data"].([]any) {
		mm := m.(map[string]any)
		num[mm["matrix_user_id"].(string)] = mm["user_id"]
	}
	waitFor(t, "the bot's power level to show", func() bool {
		d, _ := actionV11(t, g, "e2e-token", "get_group_member_info", map[string]any{"group_id": group, "user_id": num[bot.UserID]})["data"].(map[string]any)
		return d["role"] == "owner"
	})

	// A reaction to the bot's own message, by v11 numbers both ways.
	msg := v11("send_group_msg", map[string]any{"group_id": group, "message": "react here", "auto_escape": true})["message_id"]
	r := v11("matrix.react", map[string]any{"message_id": msg, "key": "👍"})
	if _, ok := r["message_id"].(float64); !ok {
		t.Fatalf("matrix.react answered %v, want a v11 message_id", r)
	}
	evt, err := alice.cli.GetEvent(testCtx(t), room, id.EventID(r["matrix_event_id"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	_ = evt.Content.ParseRaw(evt.Type)
	if rc, ok := evt.Content.Parsed.(*event.ReactionEventContent); !ok || rc.RelatesTo.Key != "👍" {
		t.Fatalf("the reaction as alice sees it: %s %v", evt.Type.Type, evt.Content.Raw)
	}
	v11("matrix.mark_read", map[string]any{"group_id": group, "message_id": msg})
	v11("matrix.set_typing", map[string]any{"group_id": group, "typing": false})

	// Members by number.
	v11("matrix.kick", map[string]any{"group_id": group, "user_id": num[bob.user.UserID], "reason": "test"})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipLeave {
		t.Fatalf("bob after matrix.kick: %q", m)
	}
	v11("matrix.ban", map[string]any{"group_id": group, "user_id": num[bob.user.UserID]})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipBan {
		t.Fatalf("bob after matrix.ban: %q", m)
	}
	v11("matrix.unban", map[string]any{"group_id": group, "user_id": num[bob.user.UserID]})
	v11("matrix.invite", map[string]any{"group_id": group, "user_id": num[bob.user.UserID]})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipInvite {
		t.Fatalf("bob after matrix.unban and matrix.invite: %q", m)
	}

	// State and the raw API.
	v11("matrix.send_state_event", map[string]any{"group_id": group, "event_type": "m.room.topic", "content": map[string]any{"topic": "v11 topic"}})
	var topic event.TopicEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StateTopic, "", &topic); err != nil || topic.Topic != "v11 topic" {
		t.Fatalf("topic: %q %v", topic.Topic, err)
	}
	if st := v11("matrix.get_room_state", map[string]any{"group_id": group, "event_type": "m.room.topic"}); st["content"].(map[string]any)["topic"] != "v11 topic" {
		t.Fatalf("matrix.get_room_state: %v", st)
	}
	if raw := v11("matrix.raw_request", map[string]any{"path": "/_matrix/client/v3/account/whoami"}); raw["body"].(map[string]any)["user_id"] != bot.UserID {
		t.Fatalf("matrix.raw_request: %v", raw)
	}

	// Rooms come back as v11 group numbers.
	created := v11("matrix.create_room", map[string]any{"name": "made by v11", "invite": []any{num[alice.user.UserID]}})
	if _, ok := created["group_id"].(float64); !ok {
		t.Fatalf("matrix.create_room answered %v, want a v11 group_id", created)
	}
	newRoom := id.RoomID(created["matrix_room_id"].(string))
	alice.join(newRoom)
	pub, err := alice.cli.CreateRoom(testCtx(t), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	joined := v11("matrix.join_room", map[string]any{"room": string(pub.RoomID)})
	if _, ok := joined["group_id"].(float64); !ok || joined["matrix_room_id"] != string(pub.RoomID) {
		t.Fatalf("matrix.join_room: %v", joined)
	}
	alice.waitJoined(pub.RoomID, bot)
}

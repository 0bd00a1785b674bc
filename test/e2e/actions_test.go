package e2e

import (
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// ok runs a v12 action and fails unless it succeeded; it returns data.
func (g *gatewayProc) ok(action string, params map[string]any) any {
	g.t.Helper()
	resp := g.actionV12("e2e-token", action, params)
	if resp["retcode"] != float64(0) {
		g.t.Fatalf("%s %v: %v", action, params, resp)
	}
	return resp["data"]
}

// membership is u's membership in room as h sees it.
func (h *human) membership(room id.RoomID, u string) event.Membership {
	var m event.MemberEventContent
	if err := h.cli.StateEvent(testCtx(h.t), room, event.StateMember, u, &m); err != nil {
		return ""
	}
	return m.Membership
}

// The room, member and Matrix actions against real Synapse, each effect checked from the
// Matrix side; a homeserver refusal comes back as 34001 with the Matrix errcode.
func TestRoomActionsAgainstSynapse(t *testing.T) {
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

	// Members and roles: alice created the room (owner), the bot is a member.
	members := g.ok("get_group_member_list", map[string]any{"group_id": room}).([]any)
	roles := map[string]string{}
	for _, m := range members {
		mm := m.(map[string]any)
		roles[mm["user_id"].(string)] = mm["matrix.role"].(string)
	}
	if roles[alice.user.UserID] != "owner" || roles[bot.UserID] != "member" || roles[bob.user.UserID] != "member" {
		t.Fatalf("roles: %v", roles)
	}
	info := g.ok("get_group_member_info", map[string]any{"group_id": room, "user_id": alice.user.UserID}).(map[string]any)
	if info["matrix.role"] != "owner" {
		t.Fatalf("get_group_member_info: %v", info)
	}

	// A refusal: the bot may not kick. 34001 with M_FORBIDDEN; bob is still there.
	resp := g.actionV12("e2e-token", "matrix.kick", map[string]any{"group_id": room, "user_id": bob.user.UserID})
	if resp["retcode"] != float64(34001) || !strings.Contains(fmt.Sprint(resp["message"]), "M_FORBIDDEN") {
		t.Fatalf("kick without power: %v", resp)
	}
	if bob.membership(room, bob.user.UserID) != event.MembershipJoin {
		t.Fatal("bob left although the kick was refused")
	}

	// alice makes the bot an admin (power 50); now it can rename, kick, ban and unban.
	var pl event.PowerLevelsEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	pl.SetUserLevel(id.UserID(bot.UserID), 50)
	if _, err := alice.cli.SendStateEvent(testCtx(t), room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the bot to be an admin", func() bool {
		resp := g.actionV12("e2e-token", "get_group_member_info", map[string]any{"group_id": room, "user_id": bot.UserID})
		d, _ := resp["data"].(map[string]any)
		return d["matrix.role"] == "admin"
	})
	g.ok("set_group_name", map[string]any{"group_id": room, "group_name": "Renamed"})
	var name event.RoomNameEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StateRoomName, "", &name); err != nil || name.Name != "Renamed" {
		t.Fatalf("room name after set_group_name: %q %v", name.Name, err)
	}
	if gi := g.ok("get_group_info", map[string]any{"group_id": room}).(map[string]any); gi["group_name"] != "Renamed" {
		t.Fatalf("get_group_info: %v", gi)
	}
	groups := g.ok("get_group_list", nil).([]any)
	if len(groups) != 1 || groups[0].(map[string]any)["group_id"] != string(room) {
		t.Fatalf("get_group_list: %v", groups)
	}
	g.ok("matrix.kick", map[string]any{"group_id": room, "user_id": bob.user.UserID, "reason": "test"})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipLeave {
		t.Fatalf("bob after kick: %q", m)
	}
	g.ok("matrix.ban", map[string]any{"group_id": room, "user_id": bob.user.UserID})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipBan {
		t.Fatalf("bob after ban: %q", m)
	}
	g.ok("matrix.unban", map[string]any{"group_id": room, "user_id": bob.user.UserID})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipLeave {
		t.Fatalf("bob after unban: %q", m)
	}
	g.ok("matrix.invite", map[string]any{"group_id": room, "user_id": bob.user.UserID})
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipInvite {
		t.Fatalf("bob after invite: %q", m)
	}

	// Messages: the bot sends, reacts to alice's message, deletes its own message.
	mine := g.ok("send_message", map[string]any{"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "text", "data": map[string]any{"text": "to be deleted"}}}}).(map[string]any)["message_id"].(string)
	hers := alice.send(room, "react to me")
	reaction := g.ok("matrix.react", map[string]any{"message_id": hers, "key": "🎉", "group_id": room}).(map[string]any)["message_id"].(string)
	evt, err := alice.cli.GetEvent(testCtx(t), room, id.EventID(reaction))
	if err != nil {
		t.Fatal(err)
	}
	_ = evt.Content.ParseRaw(evt.Type)
	if rc, ok := evt.Content.Parsed.(*event.ReactionEventContent); !ok || rc.RelatesTo.Key != "🎉" || rc.RelatesTo.EventID != hers {
		t.Fatalf("reaction as alice sees it: %s %v", evt.Type.Type, evt.Content.Raw)
	}
	g.ok("delete_message", map[string]any{"message_id": mine})
	gone, err := alice.cli.GetEvent(testCtx(t), room, id.EventID(mine))
	if err != nil || gone.Unsigned.RedactedBecause == nil {
		t.Fatalf("the bot's message was not redacted: %v", err)
	}
	g.ok("matrix.mark_read", map[string]any{"group_id": room, "message_id": hers})
	g.ok("matrix.set_typing", map[string]any{"group_id": room, "typing": false})

	// State and the raw Client-Server API.
	g.ok("matrix.send_state_event", map[string]any{"group_id": room, "event_type": "m.room.topic", "content": map[string]any{"topic": "from the bot"}})
	var topic event.TopicEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StateTopic, "", &topic); err != nil || topic.Topic != "from the bot" {
		t.Fatalf("topic: %q %v", topic.Topic, err)
	}
	st := g.ok("matrix.get_room_state", map[string]any{"group_id": room, "event_type": "m.room.topic"}).(map[string]any)
	if st["content"].(map[string]any)["topic"] != "from the bot" {
		t.Fatalf("get_room_state: %v", st)
	}
	all := g.ok("matrix.get_room_state", map[string]any{"group_id": room}).(map[string]any)
	if evs, _ := all["events"].([]any); len(evs) < 5 {
		t.Fatalf("whole state: %v", all)
	}
	raw := g.ok("matrix.raw_request", map[string]any{"path": "/_matrix/client/v3/account/whoami"}).(map[string]any)
	if raw["status"] != float64(200) || raw["body"].(map[string]any)["user_id"] != bot.UserID {
		t.Fatalf("raw whoami: %v", raw)
	}
	if resp := g.actionV12("e2e-token", "matrix.raw_request", map[string]any{"path": "/_synapse/admin/v1/server_version"}); resp["retcode"] != float64(10003) {
		t.Fatalf("raw request outside /_matrix/client/: %v", resp)
	}

	// Users, direct rooms as friends, new rooms, joining and leaving.
	ui := g.ok("get_user_info", map[string]any{"user_id": alice.user.UserID}).(map[string]any)
	if ui["user_id"] != alice.user.UserID || ui["user_name"] != id.UserID(alice.user.UserID).Localpart() {
		t.Fatalf("get_user_info: %v", ui)
	}
	dm := g.ok("matrix.create_room", map[string]any{"invite": []string{alice.user.UserID}, "is_direct": true, "preset": "trusted_private_chat"}).(map[string]any)["group_id"].(string)
	alice.join(id.RoomID(dm)) // she can: she was invited
	friends := g.ok("get_friend_list", nil).([]any)
	if len(friends) != 1 || friends[0].(map[string]any)["user_id"] != alice.user.UserID {
		t.Fatalf("get_friend_list: %v", friends)
	}
	public, err := alice.cli.CreateRoom(testCtx(t), &mautrix.ReqCreateRoom{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.ok("matrix.join_room", map[string]any{"room": public.RoomID}).(map[string]any)["group_id"]; got != string(public.RoomID) {
		t.Fatalf("join_room: %v", got)
	}
	alice.waitJoined(public.RoomID, bot)
	g.ok("leave_group", map[string]any{"group_id": public.RoomID})
	if m := alice.membership(public.RoomID, bot.UserID); m != event.MembershipLeave {
		t.Fatalf("bot after leave_group: %q", m)
	}
}

// NoneBot2 deletes a message through the gateway: on "/delete" its plugin sends "doomed" and
// redacts it with delete_msg (v11) or delete_message (v12); the room sees the redaction.
func TestNoneBotDeleteV11(t *testing.T) { testNoneBotDelete(t, 11) }

func TestNoneBotDeleteV12(t *testing.T) { testNoneBotDelete(t, 12) }

func testNoneBotDelete(t *testing.T, version int) {
	nb, bot, alice, room := noneBotRoom(t, version)

	alice.send(room, "/delete")
	// The sync may already carry it redacted (no body left).
	doomed := alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "doomed" || c.Body == "" })
	waitFor(t, "the bot's message to be redacted", func() bool {
		evt, err := alice.cli.GetEvent(testCtx(t), room, doomed.ID)
		return err == nil && evt.Unsigned.RedactedBecause != nil
	})
	// The plugin logs after its delete action has answered, which may be after the homeserver
	// already shows the redaction.
	waitFor(t, "NoneBot to log the deletion (its delete action answered)", func() bool {
		return strings.Contains(nb.Log(), "harness: deleted")
	})
}

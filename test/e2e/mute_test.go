package e2e

import (
	"errors"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// levels reads room's power levels as h sees them.
func (h *human) levels(room id.RoomID) *event.PowerLevelsEventContent {
	h.t.Helper()
	var pl event.PowerLevelsEventContent
	if err := h.cli.StateEvent(testCtx(h.t), room, event.StatePowerLevels, "", &pl); err != nil {
		h.t.Fatal(err)
	}
	return &pl
}

// userEntry is u's own entry in room's power levels (ok false: none).
func (h *human) userEntry(room id.RoomID, u string) (int, bool) {
	l, ok := h.levels(room).Users[id.UserID(u)]
	return l, ok
}

// canSend tells whether h may post a message in room now, by trying.
func (h *human) canSend(room id.RoomID, text string) bool {
	h.t.Helper()
	_, err := h.cli.SendText(testCtx(h.t), room, text)
	if err != nil && !errors.Is(err, mautrix.MForbidden) {
		h.t.Fatalf("send as %s: %v", h.user.UserID, err)
	}
	return err == nil
}

// v11 set_group_ban mutes, the Matrix way: the user stays in the room with a power level below
// what messages need, and gets their level back when the duration ends, also when it ends while
// the gateway is stopped; duration 0 lifts a mute at once; v12 matrix.mute does the same; a
// real ban is set_group_kick with reject_add_request.
func TestSetGroupBanMutesAndLifts(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	bob := newHuman(t, "bob")
	carol := newHuman(t, "carol")
	dir := t.TempDir()
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	}
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	for _, h := range []*human{bob, carol} {
		alice.invite(room, h.user.UserID)
		h.join(room)
	}
	// The bot is a moderator (50) that may change power levels; bob has a level of his own (10),
	// carol the room's default.
	pl := alice.levels(room)
	pl.SetUserLevel(id.UserID(bot.UserID), 50)
	pl.SetUserLevel(id.UserID(bob.user.UserID), 10)
	pl.SetEventLevel(event.StatePowerLevels, 50)
	if _, err := alice.cli.SendStateEvent(testCtx(t), room, event.StatePowerLevels, "", pl); err != nil {
		t.Fatal(err)
	}
	groups := actionV11(t, g, "e2e-token", "get_group_list", nil)["data"].([]any)
	groupID := groups[0].(map[string]any)["group_id"]
	v11User := func(u string) any {
		for _, m := range actionV11(t, g, "e2e-token", "get_group_member_list", map[string]any{"group_id": groupID})["data"].([]any) {
			if mm := m.(map[string]any); mm["matrix_user_id"] == u {
				return mm["user_id"]
			}
		}
		t.Fatalf("%s is not in get_group_member_list", u)
		return nil
	}
	ban := func(u string, duration any) map[string]any {
		p := map[string]any{"group_id": groupID, "user_id": v11User(u)}
		if duration != nil {
			p["duration"] = duration
		}
		return actionV11(t, g, "e2e-token", "set_group_ban", p)
	}

	// A 2 s mute: bob stays joined, cannot send, and can again once it ends.
	if resp := ban(bob.user.UserID, 2); resp["retcode"] != float64(0) {
		t.Fatalf("set_group_ban: %v", resp)
	}
	if m := alice.membership(room, bob.user.UserID); m != event.MembershipJoin {
		t.Fatalf("bob after set_group_ban: %q, want still joined", m)
	}
	if l, _ := alice.userEntry(room, bob.user.UserID); l >= 0 {
		t.Fatalf("bob's level while muted: %d, want below 0 (events_default)", l)
	}
	if bob.canSend(room, "muted?") {
		t.Fatal("bob could send while muted")
	}
	waitFor(t, "bob's mute to end", func() bool { l, ok := alice.userEntry(room, bob.user.UserID); return ok && l == 10 })
	if !bob.canSend(room, "back") {
		t.Fatal("bob cannot send after his mute ended")
	}

	// duration 0 lifts a mute at once; carol (no level of her own) goes back to the default.
	if resp := ban(carol.user.UserID, nil); resp["retcode"] != float64(0) { // default: 30 minutes
		t.Fatalf("set_group_ban without duration: %v", resp)
	}
	if carol.canSend(room, "muted?") {
		t.Fatal("carol could send while muted")
	}
	if resp := ban(carol.user.UserID, 0); resp["retcode"] != float64(0) {
		t.Fatalf("set_group_ban 0: %v", resp)
	}
	if _, ok := alice.userEntry(room, carol.user.UserID); ok || !carol.canSend(room, "unmuted") {
		t.Fatalf("carol after duration 0: %v", alice.levels(room).Users)
	}
	if resp := ban(carol.user.UserID, -1); resp["retcode"] != float64(1400) {
		t.Fatalf("negative duration: %v", resp)
	}
	if resp := ban(carol.user.UserID, 31*24*3600); resp["retcode"] != float64(1400) {
		t.Fatalf("duration over 30 days: %v", resp)
	}

	// A mute that ends while the gateway is stopped is lifted when it starts again.
	if resp := g.actionV12("e2e-token", "matrix.mute", map[string]any{"group_id": room, "user_id": bob.user.UserID, "duration": 2}); resp["retcode"] != float64(0) {
		t.Fatalf("matrix.mute: %v", resp)
	}
	end := time.Now().Add(2 * time.Second)
	g.stop()
	waitFor(t, "the mute's end to pass with the gateway stopped", func() bool { return time.Now().After(end) })
	if bob.canSend(room, "muted?") {
		t.Fatal("bob's mute ended without the gateway")
	}
	g = startGateway(t, dir, env)
	waitFor(t, "bob's mute to be lifted after the restart", func() bool { l, ok := alice.userEntry(room, bob.user.UserID); return ok && l == 10 })

	// A real ban is still there: set_group_kick with reject_add_request.
	if resp := actionV11(t, g, "e2e-token", "set_group_kick", map[string]any{"group_id": groupID, "user_id": v11User(carol.user.UserID), "reject_add_request": true}); resp["retcode"] != float64(0) {
		t.Fatalf("set_group_kick reject_add_request: %v", resp)
	}
	if m := alice.membership(room, carol.user.UserID); m != event.MembershipBan {
		t.Fatalf("carol after set_group_kick with reject_add_request: %q", m)
	}
}

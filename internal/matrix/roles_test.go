package matrix

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

func stateEvent(evtID, evtType, stateKey string, sender id.UserID, ts time.Time, content map[string]any) map[string]any {
	return map[string]any{
		"type": evtType, "event_id": evtID, "state_key": stateKey, "sender": sender,
		"origin_server_ts": ts.UnixMilli(), "content": content,
	}
}

// Every message carries its sender's role from the room's power levels in the state store: the
// creator (100) is owner, a power-level-50 user admin, anyone else member; a change of the power
// levels applies to the messages after it, and no message costs a homeserver request.
func TestMessageSenderRoleFromPowerLevels(t *testing.T) {
	const carolID id.UserID = "@carol:example.org"
	h := newHarness(t)
	h.setToken(t, "s0")
	state := newStateStore(t, h)
	now := time.Now()
	levels := func(users map[id.UserID]int) map[string]any {
		return map[string]any{"users": users, "users_default": 0}
	}
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomA: map[string]any{
			"state": map[string]any{"events": []any{
				stateEvent("$create", "m.room.create", "", aliceID, now, map[string]any{"room_version": "10", "creator": aliceID}),
				stateEvent("$pl1", "m.room.power_levels", "", aliceID, now, levels(map[id.UserID]int{aliceID: 100, bobID: 50})),
			}},
			"timeline": map[string]any{"events": []any{
				message("$alice", aliceID, now, "from the creator"),
				message("$bob", bobID, now, "from an admin"),
				message("$carol", carolID, now, "from a member"),
			}},
		}}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(
			stateEvent("$pl2", "m.room.power_levels", "", aliceID, now, levels(map[id.UserID]int{aliceID: 100, carolID: 50})),
			message("$bob2", bobID, now, "no longer admin"),
			message("$carol2", carolID, now, "now admin"),
		)}),
	)
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents, o.StateStore = true, state })
	start(t, s)
	waitEvents(t, sink, 5)
	want := map[string]model.Role{
		"$alice": model.RoleOwner, "$bob": model.RoleAdmin, "$carol": model.RoleMember,
		"$bob2": model.RoleMember, "$carol2": model.RoleAdmin,
	}
	for _, ev := range sink.Events() {
		if ev.Message == nil {
			continue
		}
		if got := ev.Message.SenderRole; got != want[ev.ID] {
			t.Errorf("%s from %s: role %q, want %q", ev.ID, ev.Message.Sender, got, want[ev.ID])
		}
	}
	// get_msg converts the indexed message again, with the role as it is now.
	ev, err := s.bot.out.GetMessage(context.Background(), "$bob")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Message.SenderRole != model.RoleMember {
		t.Errorf("get_msg of $bob: role %q, want member (power levels changed since)", ev.Message.SenderRole)
	}
	if reqs := h.hs.RequestsTo("/state/m.room.power_levels/"); len(reqs) != 0 {
		t.Errorf("%d power-level requests to the homeserver, want none (the state store has them)", len(reqs))
	}
}

// A version 12 room's creator has no entry in the power levels and is still the owner.
func TestMessageSenderRoleRoomV12Creator(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	state := newStateStore(t, h)
	now := time.Now()
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: map[string]any{
		"state": map[string]any{"events": []any{
			stateEvent("$create", "m.room.create", "", aliceID, now, map[string]any{"room_version": "12"}),
			stateEvent("$pl", "m.room.power_levels", "", aliceID, now, map[string]any{"users": map[id.UserID]int{bobID: 50}}),
		}},
		"timeline": map[string]any{"events": []any{message("$alice", aliceID, now, "hi")}},
	}}))
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents, o.StateStore = true, state })
	start(t, s)
	waitEvents(t, sink, 1)
	if got := sink.Events()[0].Message.SenderRole; got != model.RoleOwner {
		t.Errorf("creator of a version 12 room: role %q, want owner", got)
	}
}

// The sender's display name and role are read once per room and sender and kept until a state
// event of the room: a rename or a power-level change in the middle of a batch's timeline applies
// to the messages after it, in that batch and the next.
func TestSenderNameAndRoleFollowStateWithinBatch(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	state := newStateStore(t, h)
	now := time.Now()
	member := func(evtID, name string) map[string]any {
		return stateEvent(evtID, "m.room.member", string(bobID), bobID, now, map[string]any{"membership": "join", "displayname": name})
	}
	levels := func(evtID string, bob int) map[string]any {
		return stateEvent(evtID, "m.room.power_levels", "", aliceID, now, map[string]any{"users": map[id.UserID]int{aliceID: 100, bobID: bob}})
	}
	h.hs.QueueSync(
		syncReply("s1", map[id.RoomID]any{roomA: map[string]any{
			"state": map[string]any{"events": []any{
				stateEvent("$create", "m.room.create", "", aliceID, now, map[string]any{"room_version": "10", "creator": aliceID}),
				levels("$pl1", 0), member("$bob1", "Bob"),
			}},
			"timeline": map[string]any{"events": []any{
				message("$m1", bobID, now, "one"),
				message("$m2", bobID, now, "two"),
				member("$bob2", "Robert"), levels("$pl2", 50),
				message("$m3", bobID, now, "three"),
			}},
		}}),
		syncReply("s2", map[id.RoomID]any{roomA: timeline(
			message("$m4", bobID, now, "four"),
			member("$bob3", "Bobby"),
			message("$m5", bobID, now, "five"),
		)}),
	)
	sink := newRecordingSink()
	s := h.session(t, sink, func(o *Options) { o.HandleOldEvents, o.StateStore = true, state })
	start(t, s)
	waitEvents(t, sink, 5)
	type who struct {
		name string
		role model.Role
	}
	want := map[string]who{
		"$m1": {"Bob", model.RoleMember}, "$m2": {"Bob", model.RoleMember}, "$m3": {"Robert", model.RoleAdmin},
		"$m4": {"Robert", model.RoleAdmin}, "$m5": {"Bobby", model.RoleAdmin},
	}
	for _, ev := range sink.Events() {
		if ev.Message == nil {
			continue
		}
		if got := (who{ev.Message.SenderName, ev.Message.SenderRole}); got != want[ev.ID] {
			t.Errorf("%s: sender %+v, want %+v", ev.ID, got, want[ev.ID])
		}
	}
}

package e2ee

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Room keys follow trust. mautrix rotates a room's outbound Megolm session when a member's
// device list grows or shrinks, but not when a known device's trust changes: a device that the
// sharing strategy excluded (and told m.unverified) would never get the session after its owner
// cross-signed it, and a device that lost its cross-signing would keep getting the messages
// encrypted with a session it already holds. After each /sync's device list changes, the bot
// compares, for the rooms it shares with the changed users, who got the current session with
// who may get one now, and drops the session when they differ: the next message starts a new
// one, shared by the current trust.

// rotateOnTrustChange looks at the rooms shared with the users whose devices or cross-signing
// keys changed (after the machine fetched their new keys).
func (m *Machine) rotateOnTrustChange(ctx context.Context, changed []id.UserID) {
	if len(changed) == 0 || m.opts.StateStore == nil || m.cli.StateStore == nil {
		return
	}
	rooms := map[id.RoomID]map[id.UserID]bool{} // room → the changed users in it
	everyone := map[id.RoomID]bool{}            // rooms where every member's trust may have changed
	for _, user := range changed {
		shared, err := m.opts.StateStore.FindSharedRooms(ctx, user)
		if err != nil {
			m.log.Warn("failed to find the rooms of a user whose devices changed", "user_id", user, "error", err)
			continue
		}
		for _, room := range shared {
			if rooms[room] == nil {
				rooms[room] = map[id.UserID]bool{}
			}
			rooms[room][user] = true
			// With verified_only, other users' trust hangs on the bot's own cross-signing keys.
			if user == m.cli.UserID && m.opts.SharingStrategy == ShareVerifiedOnly {
				everyone[room] = true
			}
		}
	}
	for room, users := range rooms {
		if err := m.checkRoomTrust(ctx, room, users, everyone[room]); err != nil {
			m.log.Warn("failed to check the room key against the members' trust; the room key is kept", "room_id", room, "error", err)
		}
	}
}

// checkRoomTrust drops the room's outbound session when a device of users (or of every member)
// got it but may no longer, or may now get it but did not.
func (m *Machine) checkRoomTrust(ctx context.Context, room id.RoomID, users map[id.UserID]bool, everyone bool) error {
	sess, err := m.store.GetOutboundGroupSession(ctx, room)
	if err != nil {
		return fmt.Errorf("failed to read the room key: %w", err)
	} else if sess == nil || !sess.Shared {
		return nil // a new session is shared by the current trust anyway
	}
	members, err := m.cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room)
	if err != nil {
		return fmt.Errorf("failed to get the members: %w", err)
	}
	var gained, lost []string // user/device
	for _, user := range members {
		if !everyone && !users[user] {
			continue
		}
		devices, err := m.store.GetDevices(ctx, user)
		if err != nil {
			return fmt.Errorf("failed to get the devices of %s: %w", user, err)
		}
		for _, device := range devices {
			if user == m.cli.UserID && device.DeviceID == m.cli.DeviceID {
				continue
			}
			got, err := m.store.IsOutboundGroupSessionShared(ctx, user, device.IdentityKey, sess.ID())
			if err != nil {
				return fmt.Errorf("failed to check whether %s got the room key: %w", device.DeviceID, err)
			}
			switch trusted := m.mayGetRoomKeys(ctx, device); {
			case trusted && !got:
				gained = append(gained, string(user)+"/"+string(device.DeviceID))
			case !trusted && got:
				lost = append(lost, string(user)+"/"+string(device.DeviceID))
			}
		}
	}
	if len(gained) == 0 && len(lost) == 0 {
		return nil
	}
	if err := m.store.RemoveOutboundGroupSession(ctx, room); err != nil {
		return fmt.Errorf("failed to drop the room key: %w", err)
	}
	slices.Sort(gained)
	slices.Sort(lost)
	m.log.Info("room key rotated: devices' trust changed", "room_id", room, "sharing", m.sharingStrategy(),
		"now_trusted", strings.Join(gained, ","), "no_longer_trusted", strings.Join(lost, ","))
	return nil
}

// mayGetRoomKeys tells whether the sharing strategy lets device get the bot's room keys now, as
// mautrix decides when it shares a session.
func (m *Machine) mayGetRoomKeys(ctx context.Context, device *id.Device) bool {
	if device.Trust == id.TrustStateBlacklisted {
		return false
	}
	trust, _ := m.mach.ResolveTrustContext(ctx, device)
	return trust >= m.mach.SendKeysMinTrust
}

// sharingStrategy is encryption_sharing_strategy with its default filled in.
func (m *Machine) sharingStrategy() string {
	if m.opts.SharingStrategy == "" {
		return ShareAllDevices
	}
	return m.opts.SharingStrategy
}

package e2ee

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// keySharing is the room key sharing policy: which devices get the bot's room keys
// (encryption_sharing_strategy), which of the bot's own devices get keys they ask for, and the
// rotation of a room's key when a member device's trust changes.
type keySharing struct {
	mach     *crypto.OlmMachine
	cli      *mautrix.Client
	store    *crypto.SQLCryptoStore
	state    crypto.StateStore // nil: no rotation on trust changes
	strategy string            // encryption_sharing_strategy
	log      *slog.Logger
}

// newKeySharing applies strategy to mach and returns the policy.
func newKeySharing(mach *crypto.OlmMachine, cli *mautrix.Client, store *crypto.SQLCryptoStore, state crypto.StateStore, strategy string, log *slog.Logger) *keySharing {
	s := &keySharing{mach: mach, cli: cli, store: store, state: state, strategy: strategy, log: log}
	s.apply()
	mach.AllowKeyShare = s.allowKeyShare
	return s
}

// apply maps encryption_sharing_strategy onto the machine's trust thresholds.
func (s *keySharing) apply() {
	switch s.strategy {
	case ShareCrossSignedOnly:
		s.mach.SendKeysMinTrust = id.TrustStateCrossSignedTOFU
		s.mach.ShareKeysMinTrust = id.TrustStateCrossSignedTOFU
	case ShareVerifiedOnly:
		s.mach.SendKeysMinTrust = id.TrustStateCrossSignedVerified
		s.mach.ShareKeysMinTrust = id.TrustStateCrossSignedVerified
	default:
		s.mach.SendKeysMinTrust = id.TrustStateUnset
		s.mach.ShareKeysMinTrust = id.TrustStateCrossSignedTOFU
	}
}

// allowKeyShare answers other devices' key requests: only the bot's own devices that it trusts.
func (s *keySharing) allowKeyShare(ctx context.Context, device *id.Device, info event.RequestedKeyInfo) *crypto.KeyShareRejection {
	var reject *crypto.KeyShareRejection
	switch {
	case device.UserID != s.cli.UserID:
		reject = &crypto.KeyShareRejectOtherUser
	case device.DeviceID == s.cli.DeviceID:
		return &crypto.KeyShareRejectNoResponse
	case !s.mach.IsDeviceTrusted(ctx, device):
		reject = &crypto.KeyShareRejectUnverified
	}
	if reject != nil {
		s.log.Debug("refused a room key request", "user_id", device.UserID, "requesting_device_id", device.DeviceID,
			"room_id", info.RoomID, "session_id", info.SessionID, "code", reject.Code)
		return reject
	}
	s.log.Debug("answering a room key request from one of the bot's own verified devices", "requesting_device_id", device.DeviceID,
		"room_id", info.RoomID, "session_id", info.SessionID)
	return nil
}

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
func (s *keySharing) rotateOnTrustChange(ctx context.Context, changed []id.UserID) {
	if len(changed) == 0 || s.state == nil || s.cli.StateStore == nil {
		return
	}
	rooms := map[id.RoomID]map[id.UserID]bool{} // room → the changed users in it
	everyone := map[id.RoomID]bool{}            // rooms where every member's trust may have changed
	for _, user := range changed {
		shared, err := s.state.FindSharedRooms(ctx, user)
		if err != nil {
			s.log.Warn("failed to find the rooms of a user whose devices changed", "user_id", user, "error", err)
			continue
		}
		for _, room := range shared {
			if rooms[room] == nil {
				rooms[room] = map[id.UserID]bool{}
			}
			rooms[room][user] = true
			// With verified_only, other users' trust hangs on the bot's own cross-signing keys.
			if user == s.cli.UserID && s.strategy == ShareVerifiedOnly {
				everyone[room] = true
			}
		}
	}
	for room, users := range rooms {
		if err := s.checkRoomTrust(ctx, room, users, everyone[room]); err != nil {
			s.log.Warn("failed to check the room key against the members' trust; the room key is kept", "room_id", room, "error", err)
		}
	}
}

// checkRoomTrust drops the room's outbound session when a device of users (or of every member)
// got it but may no longer, or may now get it but did not.
func (s *keySharing) checkRoomTrust(ctx context.Context, room id.RoomID, users map[id.UserID]bool, everyone bool) error {
	sess, err := s.store.GetOutboundGroupSession(ctx, room)
	if err != nil {
		return fmt.Errorf("failed to read the room key: %w", err)
	} else if sess == nil || !sess.Shared {
		return nil // a new session is shared by the current trust anyway
	}
	members, err := s.cli.StateStore.GetRoomJoinedOrInvitedMembers(ctx, room)
	if err != nil {
		return fmt.Errorf("failed to get the members: %w", err)
	}
	var gained, lost []string // user/device
	for _, user := range members {
		if !everyone && !users[user] {
			continue
		}
		devices, err := s.store.GetDevices(ctx, user)
		if err != nil {
			return fmt.Errorf("failed to get the devices of %s: %w", user, err)
		}
		for _, device := range devices {
			if user == s.cli.UserID && device.DeviceID == s.cli.DeviceID {
				continue
			}
			got, err := s.store.IsOutboundGroupSessionShared(ctx, user, device.IdentityKey, sess.ID())
			if err != nil {
				return fmt.Errorf("failed to check whether %s got the room key: %w", device.DeviceID, err)
			}
			switch trusted := s.mayGetRoomKeys(ctx, device); {
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
	if err := s.store.RemoveOutboundGroupSession(ctx, room); err != nil {
		return fmt.Errorf("failed to drop the room key: %w", err)
	}
	slices.Sort(gained)
	slices.Sort(lost)
	s.log.Info("room key rotated: devices' trust changed", "room_id", room, "sharing", s.strategyName(),
		"now_trusted", strings.Join(gained, ","), "no_longer_trusted", strings.Join(lost, ","))
	return nil
}

// mayGetRoomKeys tells whether the sharing strategy lets device get the bot's room keys now, as
// mautrix decides when it shares a session.
func (s *keySharing) mayGetRoomKeys(ctx context.Context, device *id.Device) bool {
	if device.Trust == id.TrustStateBlacklisted {
		return false
	}
	trust, _ := s.mach.ResolveTrustContext(ctx, device)
	return trust >= s.mach.SendKeysMinTrust
}

// sharingStrategy is encryption_sharing_strategy with its default filled in.
func (s *keySharing) strategyName() string {
	if s.strategy == "" {
		return ShareAllDevices
	}
	return s.strategy
}

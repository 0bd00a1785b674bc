package e2ee

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/storage"
)

const (
	trustBot   = id.UserID("@bot:example.org")
	trustAlice = id.UserID("@alice:example.org")
	trustRoom  = id.RoomID("!room:example.org")
)

// trustMachine is the key sharing policy of a machine on real stores (no server) in an encrypted
// room with alice, whose device AAA has the bot's current room key.
func trustMachine(t *testing.T, strategy string) (*keySharing, id.SessionID) {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	state := sqlstatestore.NewSQLStateStore(db.DBUtil(), dbutil.NoopLogger, false)
	if err := state.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		state.SetEncryptionEvent(ctx, trustRoom, &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}),
		state.SetMembership(ctx, trustRoom, trustBot, event.MembershipJoin),
		state.SetMembership(ctx, trustRoom, trustAlice, event.MembershipJoin),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cli, err := mautrix.NewClient("http://127.0.0.1:1", trustBot, "token")
	if err != nil {
		t.Fatal(err)
	}
	cli.DeviceID, cli.StateStore = "BOTDEVICE", state
	log := slog.Default()
	zl := newZerolog(log)
	store := crypto.NewSQLCryptoStore(db.DBUtil(), dbutil.NoopLogger, "bot|BOTDEVICE", cli.DeviceID, []byte("pickle key"))
	if err := store.DB.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	mach := crypto.NewOlmMachine(cli, &zl, store, state)
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mach.Destroy)
	m := newKeySharing(mach, cli, store, state, strategy, log)

	putDevices(t, m, "AAA")
	sess, err := crypto.NewOutboundGroupSession(trustRoom, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess.Shared = true
	if err := m.store.AddOutboundGroupSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := m.store.MarkOutboundGroupSessionShared(ctx, trustAlice, "key-AAA", sess.ID()); err != nil {
		t.Fatal(err)
	}
	return m, sess.ID()
}

// putDevices sets alice's devices (none cross-signed).
func putDevices(t *testing.T, m *keySharing, ids ...id.DeviceID) {
	t.Helper()
	devices := map[id.DeviceID]*id.Device{}
	for _, d := range ids {
		devices[d] = &id.Device{UserID: trustAlice, DeviceID: d, IdentityKey: id.Curve25519("key-" + d), SigningKey: id.Ed25519("sig-" + d)}
	}
	if err := m.store.PutDevices(context.Background(), trustAlice, devices); err != nil {
		t.Fatal(err)
	}
}

func hasRoomKey(t *testing.T, m *keySharing) bool {
	t.Helper()
	sess, err := m.store.GetOutboundGroupSession(context.Background(), trustRoom)
	if err != nil {
		t.Fatal(err)
	}
	return sess != nil
}

// A device list change without a trust change keeps the room key (no rotation on every change).
func TestTrustUnchangedKeepsRoomKey(t *testing.T) {
	m, _ := trustMachine(t, ShareAllDevices)
	m.rotateOnTrustChange(context.Background(), []id.UserID{trustAlice, trustBot, "@stranger:example.org"})
	if !hasRoomKey(t, m) {
		t.Fatal("the room key was dropped although every device that may have it has it")
	}
}

// A device that may get room keys but lacks the current one gets a new session.
func TestTrustGainedRotatesRoomKey(t *testing.T) {
	m, _ := trustMachine(t, ShareAllDevices)
	putDevices(t, m, "AAA", "BBB")
	m.rotateOnTrustChange(context.Background(), []id.UserID{"@stranger:example.org"})
	if !hasRoomKey(t, m) {
		t.Fatal("a change of a user not in the room must not touch the room key")
	}
	m.rotateOnTrustChange(context.Background(), []id.UserID{trustAlice})
	if hasRoomKey(t, m) {
		t.Fatal("device BBB may get room keys but lacks the current one: the room key must be rotated")
	}
}

// A device that has the current room key but may no longer get keys (cross_signed_only, not
// cross-signed) gets no later keys: the room key is rotated.
func TestTrustLostRotatesRoomKey(t *testing.T) {
	m, _ := trustMachine(t, ShareCrossSignedOnly)
	m.rotateOnTrustChange(context.Background(), []id.UserID{trustAlice})
	if hasRoomKey(t, m) {
		t.Fatal("device AAA is not cross-signed but has the current room key: the room key must be rotated")
	}
}

// A room key not shared yet is left alone: it is shared by the current trust anyway.
func TestTrustUnsharedRoomKeyIsKept(t *testing.T) {
	m, _ := trustMachine(t, ShareCrossSignedOnly)
	ctx := context.Background()
	sess, err := m.store.GetOutboundGroupSession(ctx, trustRoom)
	if err != nil {
		t.Fatal(err)
	}
	sess.Shared = false
	if err := m.store.AddOutboundGroupSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	m.rotateOnTrustChange(ctx, []id.UserID{trustAlice})
	if !hasRoomKey(t, m) {
		t.Fatal("an unshared room key must be kept")
	}
}

package e2ee

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/storage"
)

// storeAccount writes a new Olm account for user|device into the crypto store of db, pickled
// with key, as a gateway that ran with that key would have left it.
func storeAccount(t *testing.T, db *storage.DB, user id.UserID, device id.DeviceID, key []byte) {
	t.Helper()
	ctx := context.Background()
	store := crypto.NewSQLCryptoStore(db.DBUtil(), dbutil.NoopLogger, string(user)+"|"+string(device), device, key)
	if err := store.DB.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.PutAccount(ctx, crypto.NewOlmAccount()); err != nil {
		t.Fatal(err)
	}
}

// A crypto store written with another pickle key is ErrPickleKey (which the session recovers
// on a new device), saying what to set; the right key gets past loading the account.
func TestNewWithAnotherPickleKey(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	const user, device = id.UserID("@bot:example.org"), id.DeviceID("OLDDEVICE")
	storeAccount(t, db, user, device, []byte("the key the database was written with"))

	// Nothing listens here: a machine that gets past loading its account fails on the network.
	cli, err := mautrix.NewClient("http://127.0.0.1:1", user, "token")
	if err != nil {
		t.Fatal(err)
	}
	cli.DeviceID = device
	newMachine := func(key string) error {
		m, err := New(ctx, Options{Client: cli, DB: db.DBUtil(), PickleKey: []byte(key)})
		if err == nil {
			m.Close()
		}
		return err
	}
	err = newMachine("a new key after the old one was lost")
	if !errors.Is(err, ErrPickleKey) {
		t.Fatalf("want ErrPickleKey, got %v", err)
	}
	for _, want := range []string{"GATEWAY_PICKLE_KEY", "recovery_key", "login_user", string(device)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error must name %s: %v", want, err)
		}
	}
	err = newMachine("the key the database was written with")
	if err == nil || errors.Is(err, ErrPickleKey) {
		t.Fatalf("with the right key the account must load (and the key query fail), got %v", err)
	}
}

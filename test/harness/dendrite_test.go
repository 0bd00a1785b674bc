package harness_test

import (
	"context"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

// Dendrite starts on loopback with shared-secret registration: a registered
// user has a token the server accepts, and logs in again with the password.
func TestDendriteRegistersAndLogsIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	hs, err := harness.StartDendrite(ctx, harness.DendriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hs.Stop)
	if hs.Kind() != "dendrite" {
		t.Fatalf("kind = %q", hs.Kind())
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, err := hs.RegisterUser(ctx, "alice", "alicepass", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "@alice:" + hs.ServerName(); alice.UserID != want {
		t.Fatalf("user id = %q, want %q", alice.UserID, want)
	}
	cli, err := hs.Client(alice)
	if err != nil {
		t.Fatal(err)
	}
	who, err := cli.Whoami(ctx)
	if err != nil || string(who.UserID) != alice.UserID {
		t.Fatalf("whoami = %+v, %v", who, err)
	}
	again, err := hs.Login(ctx, "alice", "alicepass")
	if err != nil || again.DeviceID == alice.DeviceID {
		t.Fatalf("login = %+v, %v (want a new device)", again, err)
	}
}

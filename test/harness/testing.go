package harness

import (
	"context"
	"testing"
	"time"
)

// StartTimeout bounds installing and starting a server in the *ForTest
// helpers (a cold pip install of Synapse takes a minute or two).
const StartTimeout = 10 * time.Minute

// SynapseForTest starts a Synapse for one test (in t.TempDir() unless
// opts.Dir is set), fails the test if that does not work, and stops it in
// t.Cleanup. If the test failed, the tail of Synapse's log is logged.
func SynapseForTest(t testing.TB, opts SynapseOptions) *Homeserver {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	hs, err := StartSynapse(ctx, opts)
	if err != nil {
		t.Fatalf("failed to start synapse: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", hs.LogPath(), hs.LogTail(logTailLines))
		}
		hs.Stop()
	})
	return hs
}

// NoneBotForTest starts the NoneBot2 test client for one test, fails the test
// if that does not work, and stops it in t.Cleanup. If the test failed, the
// tail of NoneBot's log is logged.
func NoneBotForTest(t testing.TB, opts NoneBotOptions) *NoneBot {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	return clientForTest(t, "nonebot", func(ctx context.Context) (*NoneBot, error) { return StartNoneBot(ctx, opts) })
}

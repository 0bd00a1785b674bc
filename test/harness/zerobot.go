package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// ZeroBotDir is the ZeroBot v1.8.2 test client, relative to the repository root. It is its own
// Go module, so `go test ./...` of the gateway does not descend into it.
const ZeroBotDir = "test/clients/zerobot"

var zeroBotBuild struct {
	sync.Mutex
	path string
}

// BuildZeroBot builds the ZeroBot test client into <repo>/.cache/zerobot/<version>/zerobot (once per test
// binary; Go's build cache makes later builds quick) and returns its path. The module's
// dependencies come from the Go module proxy (GOFLAGS=-mod=mod, GOWORK=off).
func BuildZeroBot(ctx context.Context) (string, error) {
	zeroBotBuild.Lock()
	defer zeroBotBuild.Unlock()
	if zeroBotBuild.path != "" {
		return zeroBotBuild.path, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	// The cache is shared by worktrees with different versions of the client: each version
	// builds into a folder of its own, so that no test runs another worktree's client.
	sum := sha256.New()
	for _, name := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, ZeroBotDir, name))
		if err != nil {
			return "", fmt.Errorf("failed to read the ZeroBot client: %w", err)
		}
		sum.Write(b)
	}
	version := hex.EncodeToString(sum.Sum(nil))[:16]
	out := filepath.Join(cache, "zerobot", version, "zerobot")
	logPath := filepath.Join(cache, "zerobot", version, "build.log")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", filepath.Dir(out), err)
	}
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return "", fmt.Errorf("failed to create build log: %w", err)
	}
	env := childEnv(func(k string) bool { return k == "GOFLAGS" || k == "GOWORK" }, map[string]string{
		"GOFLAGS": "-mod=mod", "GOWORK": "off",
	})
	if err := runLogged(ctx, logPath, env, "go", "-C", filepath.Join(root, ZeroBotDir), "build", "-o", out, "."); err != nil {
		return "", fmt.Errorf("failed to build the ZeroBot client: %w", err)
	}
	zeroBotBuild.path = out
	return out, nil
}

// ZeroBot is a running ZeroBot client connected to a gateway's v11 forward WebSocket, with an
// echo command ("/echo text" answers "text").
type ZeroBot struct {
	proc *Process
}

// StartZeroBot builds (once) and starts the ZeroBot client against url (ws://HOST/onebot/v11/),
// returning when it has connected. Its log is dir/zerobot.log.
func StartZeroBot(ctx context.Context, url, token, dir string) (*ZeroBot, error) {
	bin, err := BuildZeroBot(ctx)
	if err != nil {
		return nil, err
	}
	proc, err := StartProcess(ProcessOptions{
		Name: "zerobot", Path: bin, Dir: dir, LogPath: filepath.Join(dir, "zerobot.log"),
		Env: childEnv(func(k string) bool { return k == "ZEROBOT_URL" || k == "ZEROBOT_TOKEN" },
			map[string]string{"ZEROBOT_URL": url, "ZEROBOT_TOKEN": token}),
	})
	if err != nil {
		return nil, err
	}
	if err := proc.WaitForLog(ctx, "harness: running"); err != nil {
		_ = proc.Stop()
		return nil, fmt.Errorf("zerobot did not connect: %w\n%s", err, proc.LogTail(logTailLines))
	}
	return &ZeroBot{proc: proc}, nil
}

// Log returns ZeroBot's whole log.
func (z *ZeroBot) Log() string { return z.proc.Log() }

// Stop terminates ZeroBot.
func (z *ZeroBot) Stop() { _ = z.proc.Stop() }

// ZeroBotForTest starts ZeroBot for one test and stops it in t.Cleanup.
func ZeroBotForTest(t testing.TB, url, token string) *ZeroBot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	z, err := StartZeroBot(ctx, url, token, t.TempDir())
	if err != nil {
		t.Fatalf("failed to start zerobot: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of zerobot.log:\n%s", z.proc.LogTail(logTailLines))
		}
		z.Stop()
	})
	return z
}

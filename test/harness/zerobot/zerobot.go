package zerobot

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Dir is the Client v1.8.2 test client, relative to the repository root. It is its own
// Go module, so `go test ./...` of the gateway does not descend into it.
const Dir = "test/clients/zerobot"

var zeroBotBuild struct {
	sync.Mutex
	path string
}

// Build builds the Client test client into <repo>/.cache/zerobot/<version>/zerobot (once per test
// binary; Go's build cache makes later builds quick) and returns its path. The module's
// dependencies come from the Go module proxy (GOFLAGS=-mod=mod, GOWORK=off).
func Build(ctx context.Context) (string, error) {
	zeroBotBuild.Lock()
	defer zeroBotBuild.Unlock()
	if zeroBotBuild.path != "" {
		return zeroBotBuild.path, nil
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	cache, err := harness.CacheDir()
	if err != nil {
		return "", err
	}
	// The cache is shared by worktrees with different versions of the client: each version
	// builds into a folder of its own, so that no test runs another worktree's client.
	sum := sha256.New()
	for _, name := range []string{"main.go", "go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, Dir, name))
		if err != nil {
			return "", fmt.Errorf("failed to read the Client client: %w", err)
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
	env := harness.ChildEnv(func(k string) bool { return k == "GOFLAGS" || k == "GOWORK" }, map[string]string{
		"GOFLAGS": "-mod=mod", "GOWORK": "off",
	})
	if err := harness.RunLogged(ctx, logPath, env, "go", "-C", filepath.Join(root, Dir), "build", "-o", out, "."); err != nil {
		return "", fmt.Errorf("failed to build the Client client: %w", err)
	}
	zeroBotBuild.path = out
	return out, nil
}

// Client is a running Client client connected to a gateway's v11 forward WebSocket, with an
// echo command ("/echo text" answers "text").
type Client struct {
	proc *harness.Process
}

// Start builds (once) and starts the Client client against url (ws://HOST/onebot/v11/),
// returning when it has connected. Its log is dir/zerobot.log.
func Start(ctx context.Context, url, token, dir string) (*Client, error) {
	bin, err := Build(ctx)
	if err != nil {
		return nil, err
	}
	proc, err := harness.StartProcess(harness.ProcessOptions{
		Name: "zerobot", Path: bin, Dir: dir, LogPath: filepath.Join(dir, "zerobot.log"),
		Env: harness.ChildEnv(func(k string) bool { return k == "ZEROBOT_URL" || k == "ZEROBOT_TOKEN" },
			map[string]string{"ZEROBOT_URL": url, "ZEROBOT_TOKEN": token}),
	})
	if err != nil {
		return nil, err
	}
	if err := proc.WaitForLog(ctx, "harness: running"); err != nil {
		_ = proc.Stop()
		return nil, fmt.Errorf("zerobot did not connect: %w\n%s", err, proc.LogTail(harness.LogTailLines))
	}
	return &Client{proc: proc}, nil
}

// Log returns Client's whole log.
func (z *Client) Log() string { return z.proc.Log() }

// Stop terminates Client.
func (z *Client) Stop() { _ = z.proc.Stop() }

// ForTest starts Client for one test and stops it in t.Cleanup.
func ForTest(t testing.TB, url, token string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	z, err := Start(ctx, url, token, t.TempDir())
	if err != nil {
		t.Fatalf("failed to start zerobot: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of zerobot.log:\n%s", z.proc.LogTail(harness.LogTailLines))
		}
		z.Stop()
	})
	return z
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// KoishiDir is the Koishi test client (koishi 4.18.11 + koishi-plugin-adapter-onebot 6.9.4),
// relative to the repository root.
const KoishiDir = "test/clients/koishi"

// KoishiOptions configures StartKoishi.
type KoishiOptions struct {
	// Protocol is the adapter's protocol: "ws" (Koishi dials the gateway), "ws-reverse" (the
	// gateway dials Koishi) or "http" (API calls over HTTP, events POSTed to Koishi).
	Protocol string
	// SelfID is the bot's OneBot v11 self_id (X-Self-ID must match it).
	SelfID int64
	// Endpoint is the gateway's v11 URL: ws://HOST/onebot/v11/ for "ws",
	// http://HOST/onebot/v11 for "http"; unused for "ws-reverse".
	Endpoint string
	Token    string // the gateway's access token
	Secret   string // "http": the secret of X-Signature
	Dir      string // working directory and koishi.log ("" = a new temporary directory)
	// Port of Koishi's server on 127.0.0.1 (0 = a free one). Fix it to configure the gateway's
	// HTTP POST URL before Koishi starts.
	Port int
}

// Koishi is a running Koishi app with the OneBot adapter and an echo command
// ("/echo text" answers "text").
type Koishi struct {
	port      int
	dir       string
	removeDir bool
	proc      *Process
	stopOnce  sync.Once
}

// StartKoishi installs (once, into .cache/node-koishi) and starts the Koishi test client,
// returning when its server answers.
func StartKoishi(ctx context.Context, opts KoishiOptions) (*Koishi, error) {
	appDir, err := EnsureNodeModules(ctx, "koishi", KoishiDir)
	if err != nil {
		return nil, fmt.Errorf("failed to install koishi: %w", err)
	}
	dir, removeDir := opts.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "koishi-"); err != nil {
			return nil, fmt.Errorf("failed to create koishi directory: %w", err)
		}
		removeDir = true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create koishi directory: %w", err)
	}
	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				break
			}
		}
		var k *Koishi
		k, err = launchKoishi(ctx, appDir, dir, port, opts)
		if err == nil {
			k.removeDir = removeDir
			return k, nil
		}
		if opts.Port != 0 || attempt >= 5 || !errors.Is(err, errAddressInUse) {
			break
		}
	}
	if removeDir {
		_ = os.RemoveAll(dir)
	}
	return nil, err
}

func launchKoishi(ctx context.Context, appDir, dir string, port int, opts KoishiOptions) (*Koishi, error) {
	env := map[string]string{
		"KOISHI_PORT": strconv.Itoa(port), "KOISHI_PROTOCOL": opts.Protocol,
		"KOISHI_SELF_ID": strconv.FormatInt(opts.SelfID, 10), "KOISHI_ENDPOINT": opts.Endpoint,
		"KOISHI_TOKEN": opts.Token, "KOISHI_SECRET": opts.Secret,
	}
	logPath := filepath.Join(dir, "koishi.log")
	logStart := fileSize(logPath)
	proc, err := StartProcess(ProcessOptions{
		Name: "koishi", Path: "node", Args: []string{filepath.Join(appDir, "bot.js")}, Dir: appDir,
		Env:     childEnv(func(k string) bool { return strings.HasPrefix(k, "KOISHI_") || k == "NODE_OPTIONS" }, env),
		LogPath: logPath,
	})
	if err != nil {
		return nil, err
	}
	k := &Koishi{port: port, dir: dir, proc: proc}
	err = proc.WaitReady(ctx, proc.PIDHealthCheck(port))
	if err != nil {
		_ = proc.Stop()
		if logSince(logPath, logStart, "EADDRINUSE") {
			return nil, fmt.Errorf("failed to start koishi on port %d: %w: %w", port, errAddressInUse, err)
		}
		return nil, fmt.Errorf("failed to start koishi: %w", err)
	}
	return k, nil
}

// FreePort returns a port on 127.0.0.1 that is free now.
func FreePort() (int, error) { return freePort() }

// ReverseWSURL is where the gateway dials Koishi ("ws-reverse").
func (k *Koishi) ReverseWSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/onebot", k.port) }

// HTTPPostURL is where the gateway POSTs events ("http").
func (k *Koishi) HTTPPostURL() string { return fmt.Sprintf("http://127.0.0.1:%d/onebot", k.port) }

// Log returns Koishi's whole log; "harness: …" lines say what it saw.
func (k *Koishi) Log() string { return k.proc.Log() }

// LogTail returns the last n lines of Koishi's log.
func (k *Koishi) LogTail(n int) string { return k.proc.LogTail(n) }

// WaitForLog waits until Koishi's log contains substr (or ctx ends, or Koishi exits).
func (k *Koishi) WaitForLog(ctx context.Context, substr string) error {
	if err := k.proc.WaitForLog(ctx, substr); err != nil {
		return fmt.Errorf("failed to find %q in koishi log: %w", substr, err)
	}
	return nil
}

// Stop terminates Koishi and removes the directory if StartKoishi created it.
func (k *Koishi) Stop() {
	k.stopOnce.Do(func() {
		_ = k.proc.Stop()
		if k.removeDir {
			_ = os.RemoveAll(k.dir)
		}
	})
}

// KoishiForTest starts Koishi for one test and stops it in t.Cleanup; on failure the tail of its
// log is logged.
func KoishiForTest(t testing.TB, opts KoishiOptions) *Koishi {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	k, err := StartKoishi(ctx, opts)
	if err != nil {
		t.Fatalf("failed to start koishi: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of koishi.log:\n%s", k.LogTail(logTailLines))
		}
		k.Stop()
	})
	return k
}

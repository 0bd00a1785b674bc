package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testClient is a running test client process (NoneBot2, Koishi, a Satori client): its server
// port, its log (<dir>/<name>.log) and its working directory, removed by Stop when it was made
// for it.
type testClient struct {
	name      string
	port      int
	dir       string
	removeDir bool
	proc      *Process
	stopOnce  sync.Once
}

// clientStart says how to start a test client.
type clientStart struct {
	name string // of the process and its log
	dir  string // working directory and log ("" = a new temporary directory, removed by Stop)
	port int    // of its server on 127.0.0.1 (0 = a free one, and another when that one was taken meanwhile)
	// process returns how to run the client with its server on port; Dir "" = dir. Name and
	// LogPath are set by startTestClient.
	process func(port int) ProcessOptions
}

// startTestClient starts a test client and returns when its server answers (PIDHealthCheck).
// A port taken between its choice and the start ("address already in use", EADDRINUSE in the
// log) is tried again with another, up to 5 times, unless the port was given.
func startTestClient(ctx context.Context, cs clientStart) (*testClient, error) {
	dir, removeDir, err := workDir(cs.name, cs.dir)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, cs.name+".log")
	for attempt := 1; ; attempt++ {
		port := cs.port
		if port == 0 {
			if port, err = freePort(); err != nil {
				break
			}
		}
		po := cs.process(port)
		if po.Dir == "" {
			po.Dir = dir
		}
		po.Name, po.LogPath = cs.name, logPath
		logStart := fileSize(logPath)
		var p *Process
		if p, err = StartProcess(po); err != nil {
			break
		}
		if err = p.WaitReady(ctx, p.PIDHealthCheck(port)); err == nil {
			return &testClient{name: cs.name, port: port, dir: dir, removeDir: removeDir, proc: p}, nil
		}
		_ = p.Stop()
		if logSince(logPath, logStart, "address already in use") || logSince(logPath, logStart, "EADDRINUSE") {
			err = fmt.Errorf("failed to start %s on port %d: %w: %w", cs.name, port, errAddressInUse, err)
		} else {
			err = fmt.Errorf("failed to start %s: %w", cs.name, err)
		}
		if cs.port != 0 || attempt >= 5 || !errors.Is(err, errAddressInUse) {
			break
		}
	}
	if removeDir {
		_ = os.RemoveAll(dir)
	}
	return nil, err
}

// workDir returns the working directory of a server or client called name: dir made absolute
// and created, or a new temporary directory when dir is "" (removeDir: it is the caller's to
// remove).
func workDir(name, dir string) (abs string, removeDir bool, err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", name+"-"); err != nil {
			return "", false, fmt.Errorf("failed to create %s directory: %w", name, err)
		}
		return dir, true, nil
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", false, fmt.Errorf("failed to resolve %s directory: %w", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("failed to create %s directory: %w", name, err)
	}
	return dir, false, nil
}

// Log returns the client's whole log; its "harness: …" lines say what it saw.
func (c *testClient) Log() string { return c.proc.Log() }

// LogTail returns the last n lines of the client's log.
func (c *testClient) LogTail(n int) string { return c.proc.LogTail(n) }

// WaitForLog waits until the client's log contains substr (or ctx ends, or the client exits).
func (c *testClient) WaitForLog(ctx context.Context, substr string) error {
	if err := c.proc.WaitForLog(ctx, substr); err != nil {
		return fmt.Errorf("failed to find %q in %s log: %w", substr, c.name, err)
	}
	return nil
}

// Stop terminates the client (SIGTERM, then SIGKILL) and removes its directory if it was made
// for it. It is idempotent.
func (c *testClient) Stop() {
	c.stopOnce.Do(func() {
		_ = c.proc.Stop()
		if c.removeDir {
			_ = os.RemoveAll(c.dir)
		}
	})
}

// clientForTest starts a client for one test (in a directory of the test's) and stops it in
// t.Cleanup; on failure the tail of its log is logged.
func clientForTest[C interface {
	LogTail(n int) string
	Stop()
}](t testing.TB, what string, start func(ctx context.Context) (C, error)) C {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	c, err := start(ctx)
	if err != nil {
		t.Fatalf("failed to start %s: %v", what, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the %s log:\n%s", what, c.LogTail(logTailLines))
		}
		c.Stop()
	})
	return c
}

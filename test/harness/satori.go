package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Paths of the Satori test clients, relative to the repository root.
const (
	// SatoriNoneBotDir is NoneBot2 2.5.0 with nonebot-adapter-satori 1.3.0.
	SatoriNoneBotDir          = "test/clients/nonebot-satori"
	SatoriNoneBotRequirements = "test/clients/nonebot-satori/requirements.txt"
	// SatoriKoishiDir is koishi 4.18.11 with @satorijs/adapter-satori 1.5.1.
	SatoriKoishiDir = "test/clients/koishi-satori"
)

// SatoriClientOptions configure a Satori test client.
type SatoriClientOptions struct {
	// Endpoint is the gateway's Satori URL without /v1, e.g. http://127.0.0.1:5700/satori.
	Endpoint string
	Token    string // the gateway's access token
	Dir      string // working directory and the client's log ("" = a new temporary directory)
}

// SatoriClient is a running Satori test client (NoneBot2 or Koishi) with the proofs plugin of
// test/clients/nonebot-satori/plugins/proofs.py (Koishi: test/clients/koishi-satori/bot.js):
// /echo, /mention, /reply, /img, /quote, to_me and received images. Log lines starting with
// "harness:" say what it saw.
type SatoriClient struct {
	name      string
	port      int
	dir       string
	removeDir bool
	proc      *Process
	stopOnce  sync.Once
}

// StartSatoriNoneBot installs (once, into .cache/venv-nonebot-satori) and starts NoneBot2 with
// nonebot-adapter-satori dialling the gateway, returning when NoneBot's server answers.
func StartSatoriNoneBot(ctx context.Context, opts SatoriClientOptions) (*SatoriClient, error) {
	python, err := EnsureVenv(ctx, "nonebot-satori", SatoriNoneBotRequirements)
	if err != nil {
		return nil, fmt.Errorf("failed to install nonebot-satori: %w", err)
	}
	script, err := harnessFile(SatoriNoneBotDir + "/bot.py")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(opts.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("bad Satori endpoint %q: %w", opts.Endpoint, err)
	}
	port, _ := strconv.Atoi(u.Port())
	clients, _ := json.Marshal([]map[string]any{{
		"host": u.Hostname(), "port": port, "path": strings.Trim(u.Path, "/"), "token": opts.Token,
	}})
	return startSatoriClient(ctx, "nonebot-satori", opts, func(port int) ProcessOptions {
		env := map[string]string{
			"HOST": "127.0.0.1", "PORT": strconv.Itoa(port), "DRIVER": "~fastapi+~httpx+~websockets",
			"COMMAND_START": `["/"]`, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1", "SATORI_CLIENTS": string(clients),
		}
		return ProcessOptions{
			Name: "nonebot-satori", Path: python, Args: []string{script},
			Env: childEnv(func(k string) bool { return dropNoneBotEnv(k) || strings.HasPrefix(strings.ToUpper(k), "SATORI_") }, env),
		}
	})
}

// StartSatoriKoishi installs (once, into .cache/node-koishi-satori) and starts Koishi with
// @satorijs/adapter-satori dialling the gateway, returning when Koishi's server answers.
func StartSatoriKoishi(ctx context.Context, opts SatoriClientOptions) (*SatoriClient, error) {
	appDir, err := EnsureNodeModules(ctx, "koishi-satori", SatoriKoishiDir)
	if err != nil {
		return nil, fmt.Errorf("failed to install koishi-satori: %w", err)
	}
	return startSatoriClient(ctx, "koishi-satori", opts, func(port int) ProcessOptions {
		env := map[string]string{"KOISHI_PORT": strconv.Itoa(port), "KOISHI_ENDPOINT": opts.Endpoint, "KOISHI_TOKEN": opts.Token}
		return ProcessOptions{
			Name: "koishi-satori", Path: "node", Args: []string{filepath.Join(appDir, "bot.js")}, Dir: appDir,
			Env: childEnv(func(k string) bool { return strings.HasPrefix(k, "KOISHI_") || k == "NODE_OPTIONS" }, env),
		}
	})
}

func startSatoriClient(ctx context.Context, name string, opts SatoriClientOptions, proc func(port int) ProcessOptions) (*SatoriClient, error) {
	dir, removeDir := opts.Dir, false
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", name+"-"); err != nil {
			return nil, fmt.Errorf("failed to create %s directory: %w", name, err)
		}
		removeDir = true
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create %s directory: %w", name, err)
	}
	logPath := filepath.Join(dir, name+".log")
	for attempt := 1; ; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		po := proc(port)
		if po.Dir == "" {
			po.Dir = dir
		}
		po.LogPath = logPath
		logStart := fileSize(logPath)
		var p *Process
		if p, err = StartProcess(po); err != nil {
			break
		}
		if err = p.WaitReady(ctx, p.PIDHealthCheck(port)); err == nil {
			return &SatoriClient{name: name, port: port, dir: dir, removeDir: removeDir, proc: p}, nil
		}
		_ = p.Stop()
		inUse := logSince(logPath, logStart, "address already in use") || logSince(logPath, logStart, "EADDRINUSE")
		err = fmt.Errorf("failed to start %s: %w", name, err)
		if inUse {
			err = fmt.Errorf("%w: %w", errAddressInUse, err)
		}
		if attempt >= 5 || !errors.Is(err, errAddressInUse) {
			break
		}
	}
	if removeDir {
		_ = os.RemoveAll(dir)
	}
	return nil, err
}

// Log returns the client's whole log.
func (c *SatoriClient) Log() string { return c.proc.Log() }

// LogTail returns the last n lines of the client's log.
func (c *SatoriClient) LogTail(n int) string { return c.proc.LogTail(n) }

// WaitForLog waits until the client's log contains substr (or ctx ends, or the client exits).
func (c *SatoriClient) WaitForLog(ctx context.Context, substr string) error {
	if err := c.proc.WaitForLog(ctx, substr); err != nil {
		return fmt.Errorf("failed to find %q in %s log: %w", substr, c.name, err)
	}
	return nil
}

// Stop terminates the client and removes its directory if it was made for it.
func (c *SatoriClient) Stop() {
	c.stopOnce.Do(func() {
		_ = c.proc.Stop()
		if c.removeDir {
			_ = os.RemoveAll(c.dir)
		}
	})
}

// SatoriClientForTest starts a Satori client ("nonebot" or "koishi") for one test and stops it
// in t.Cleanup; on failure the tail of its log is logged.
func SatoriClientForTest(t testing.TB, which string, opts SatoriClientOptions) *SatoriClient {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	start := StartSatoriNoneBot
	if which == "koishi" {
		start = StartSatoriKoishi
	}
	c, err := start(ctx, opts)
	if err != nil {
		t.Fatalf("failed to start the %s Satori client: %v", which, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the %s log:\n%s", c.name, c.LogTail(logTailLines))
		}
		c.Stop()
	})
	return c
}

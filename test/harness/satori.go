package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
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
type SatoriClient struct{ *testClient }

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
			Path: python, Args: []string{script},
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
			Path: "node", Args: []string{filepath.Join(appDir, "bot.js")}, Dir: appDir,
			Env: childEnv(func(k string) bool { return strings.HasPrefix(k, "KOISHI_") || k == "NODE_OPTIONS" }, env),
		}
	})
}

func startSatoriClient(ctx context.Context, name string, opts SatoriClientOptions, process func(port int) ProcessOptions) (*SatoriClient, error) {
	c, err := startTestClient(ctx, clientStart{name: name, dir: opts.Dir, process: process})
	if err != nil {
		return nil, err
	}
	return &SatoriClient{c}, nil
}

// SatoriClientForTest starts a Satori client ("nonebot" or "koishi") for one test and stops it
// in t.Cleanup; on failure the tail of its log is logged.
func SatoriClientForTest(t testing.TB, which string, opts SatoriClientOptions) *SatoriClient {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	start := StartSatoriNoneBot
	if which == "koishi" {
		start = StartSatoriKoishi
	}
	return clientForTest(t, "the "+which+" Satori client", func(ctx context.Context) (*SatoriClient, error) { return start(ctx, opts) })
}

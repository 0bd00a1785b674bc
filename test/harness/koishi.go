package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
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
// ("/echo text" answers "text"); its log is koishi.log.
type Koishi struct{ *testClient }

// StartKoishi installs (once, into .cache/node-koishi) and starts the Koishi test client,
// returning when its server answers.
func StartKoishi(ctx context.Context, opts KoishiOptions) (*Koishi, error) {
	appDir, err := EnsureNodeModules(ctx, "koishi", KoishiDir)
	if err != nil {
		return nil, fmt.Errorf("failed to install koishi: %w", err)
	}
	c, err := startTestClient(ctx, clientStart{name: "koishi", dir: opts.Dir, port: opts.Port, process: func(port int) ProcessOptions {
		env := map[string]string{
			"KOISHI_PORT": strconv.Itoa(port), "KOISHI_PROTOCOL": opts.Protocol,
			"KOISHI_SELF_ID": strconv.FormatInt(opts.SelfID, 10), "KOISHI_ENDPOINT": opts.Endpoint,
			"KOISHI_TOKEN": opts.Token, "KOISHI_SECRET": opts.Secret,
		}
		return ProcessOptions{
			Path: "node", Args: []string{filepath.Join(appDir, "bot.js")}, Dir: appDir,
			Env: childEnv(func(k string) bool { return strings.HasPrefix(k, "KOISHI_") || k == "NODE_OPTIONS" }, env),
		}
	}})
	if err != nil {
		return nil, err
	}
	return &Koishi{c}, nil
}

// FreePort returns a port on 127.0.0.1 that is free now.
func FreePort() (int, error) { return freePort() }

// ReverseWSURL is where the gateway dials Koishi ("ws-reverse").
func (k *Koishi) ReverseWSURL() string { return fmt.Sprintf("ws://127.0.0.1:%d/onebot", k.port) }

// HTTPPostURL is where the gateway POSTs events ("http").
func (k *Koishi) HTTPPostURL() string { return fmt.Sprintf("http://127.0.0.1:%d/onebot", k.port) }

// KoishiForTest starts Koishi for one test and stops it in t.Cleanup; on failure the tail of its
// log is logged.
func KoishiForTest(t testing.TB, opts KoishiOptions) *Koishi {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	return clientForTest(t, "koishi", func(ctx context.Context) (*Koishi, error) { return StartKoishi(ctx, opts) })
}

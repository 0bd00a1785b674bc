package harness

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Paths of the NoneBot2 test client, relative to the repository root.
const (
	NoneBotDir          = "test/clients/nonebot"
	NoneBotRequirements = "test/clients/nonebot/requirements.txt"
)

// NoneBotOptions configures StartNoneBot.
type NoneBotOptions struct {
	// AccessToken is required by both the v11 and the v12 adapter
	// ("" = none).
	AccessToken string
	// Port of the HTTP/WebSocket server on 127.0.0.1 (0 = a free port).
	Port int
	// ExtraEnv is added last, so it can override anything (LOG_LEVEL,
	// ONEBOT_V11_WS_URLS for forward WebSocket, ...).
	ExtraEnv map[string]string
	// Dir is the working directory and holds nonebot.log ("" = a new
	// temporary directory, removed by Stop).
	Dir string
	// Script is another NoneBot2 app to run instead of the test client's
	// bot.py (relative to the repository root); it must serve
	// /harness/healthz like bot.py does. "" = NoneBotDir/bot.py.
	Script string
	// Venv and Requirements name another virtual environment for Script
	// (see EnsureVenv); "" = the test client's ("nonebot",
	// NoneBotRequirements).
	Venv, Requirements string
}

// NoneBot is a running NoneBot2 app with the OneBot v11 and v12 adapters and
// the echo plugin ("/echo text" answers "text"). Its log (nonebot.log) has each event as
// "harness: event adapter=... data={...}", connections as
// "harness: bot connected adapter=OneBot V11 self_id=...".
type NoneBot struct{ *testClient }

// StartNoneBot installs (once) and starts the NoneBot2 test client, returning
// when it serves HTTP. ctx bounds the install and the startup only.
func StartNoneBot(ctx context.Context, opts NoneBotOptions) (*NoneBot, error) {
	venv, reqs, scriptPath := "nonebot", NoneBotRequirements, NoneBotDir+"/bot.py"
	if opts.Venv != "" {
		venv, reqs = opts.Venv, opts.Requirements
	}
	if opts.Script != "" {
		scriptPath = opts.Script
	}
	python, err := EnsureVenv(ctx, venv, reqs)
	if err != nil {
		return nil, fmt.Errorf("failed to install nonebot (%s): %w", venv, err)
	}
	script, err := harnessFile(scriptPath)
	if err != nil {
		return nil, err
	}
	c, err := startTestClient(ctx, clientStart{name: "nonebot", dir: opts.Dir, port: opts.Port, process: func(port int) ProcessOptions {
		env := map[string]string{
			"HOST":             "127.0.0.1",
			"PORT":             strconv.Itoa(port),
			"DRIVER":           "~fastapi",
			"COMMAND_START":    `["/"]`,
			"LOG_LEVEL":        "INFO",
			"PYTHONUNBUFFERED": "1",
		}
		if opts.AccessToken != "" {
			env["ONEBOT_V11_ACCESS_TOKEN"] = opts.AccessToken
			env["ONEBOT_V12_ACCESS_TOKEN"] = opts.AccessToken
		}
		for k, v := range opts.ExtraEnv {
			env[k] = v
		}
		// Dir "": its own directory, where no .env files are read from.
		return ProcessOptions{Path: python, Args: []string{script}, Env: childEnv(dropNoneBotEnv, env)}
	}})
	if err != nil {
		return nil, err
	}
	return &NoneBot{c}, nil
}

// dropNoneBotEnv drops inherited variables that NoneBot or its adapters would
// read as settings (they are case-insensitive, and the un-versioned ONEBOT_*
// names feed both adapters).
func dropNoneBotEnv(key string) bool {
	if dropPythonEnv(key) {
		return true
	}
	k := strings.ToUpper(key)
	if strings.HasPrefix(k, "ONEBOT_") || strings.HasPrefix(k, "FASTAPI_") {
		return true
	}
	switch k {
	case "HOST", "PORT", "DRIVER", "ENVIRONMENT", "LOG_LEVEL", "API_TIMEOUT", "SUPERUSERS", "NICKNAME",
		"COMMAND_START", "COMMAND_SEP", "SESSION_EXPIRE_TIMEOUT", "SESSION_RUNNING_EXPRESSION":
		return true
	}
	return false
}

// Port returns the port NoneBot listens on (127.0.0.1).
func (nb *NoneBot) Port() int { return nb.port }

// URL returns http://127.0.0.1:PORT.
func (nb *NoneBot) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", nb.port) }

// V11ReverseWSURL is where a OneBot v11 implementation connects (reverse WS).
func (nb *NoneBot) V11ReverseWSURL() string {
	return fmt.Sprintf("ws://127.0.0.1:%d/onebot/v11/ws", nb.port)
}

// V12ReverseWSURL is where a OneBot v12 implementation connects (reverse WS).
func (nb *NoneBot) V12ReverseWSURL() string {
	return fmt.Sprintf("ws://127.0.0.1:%d/onebot/v12/ws", nb.port)
}

// V11HTTPPostURL is where a OneBot v11 implementation posts events (HTTP POST).
func (nb *NoneBot) V11HTTPPostURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/onebot/v11/http", nb.port)
}

// V12WebhookURL is where a OneBot v12 implementation posts events (webhook).
func (nb *NoneBot) V12WebhookURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/onebot/v12/http", nb.port)
}

// Done is closed when the NoneBot process has exited (after Stop, or a crash).
func (nb *NoneBot) Done() <-chan struct{} { return nb.proc.Done() }

// LogPath returns the path of NoneBot's log.
func (nb *NoneBot) LogPath() string { return nb.proc.LogPath() }

// PID is the process id of the NoneBot app (for CPU and memory readings).
func (nb *NoneBot) PID() int { return nb.proc.PID() }

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// GATEWAY_ENV_FILE: its NAME=value lines are read over the environment at every Load (a
// reload sees the file's new content), a name in both taking the file's value.
func TestLoadEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.env")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`# the bots
MATRIX_BOTS='[{"homeserver": "https://a.example", "access_token": "t1", "user_id": "@a:a.example"}]'
GATEWAY_LOG_LEVEL=debug
`)
	cfg := mustLoad(t, []string{"GATEWAY_ENV_FILE=" + path, "GATEWAY_LOG_LEVEL=warn"})
	if len(cfg.Bots) != 1 || cfg.Bots[0].UserID != "@a:a.example" || cfg.Gateway.LogLevel != "debug" {
		t.Fatalf("bots %v, log level %q; want the file's bot and level", cfg.Bots, cfg.Gateway.LogLevel)
	}

	write(`MATRIX_BOTS='[{"homeserver": "https://a.example", "access_token": "t1", "user_id": "@a:a.example"},
  {"homeserver": "https://b.example", "access_token": "t2", "user_id": "@b:b.example"}]'
`)
	cfg = mustLoad(t, []string{"GATEWAY_ENV_FILE=" + path, "GATEWAY_LOG_LEVEL=warn"})
	if len(cfg.Bots) != 2 || cfg.Bots[1].UserID != "@b:b.example" || cfg.Gateway.LogLevel != "warn" {
		t.Fatalf("after the file changed: bots %v, log level %q; want two bots and the environment's level", cfg.Bots, cfg.Gateway.LogLevel)
	}

	_, err := Load(withBots("GATEWAY_ENV_FILE=" + filepath.Join(t.TempDir(), "missing.env")))
	wantProblems(t, err, 1, "GATEWAY_ENV_FILE")

	write("GATEWAY_ACCESS_TOKEN='very-secret\n")
	_, err = Load(withBots("GATEWAY_ENV_FILE=" + path))
	wantProblems(t, err, 1, "GATEWAY_ENV_FILE")
	if strings.Contains(err.Error(), "very-secret") {
		t.Fatalf("the problem shows the file's content: %v", err)
	}

	write("GATEWAY_ENV_FILE=/elsewhere\n")
	_, err = Load(withBots("GATEWAY_ENV_FILE=" + path))
	wantProblems(t, err, 1, "sets GATEWAY_ENV_FILE itself")
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A pickle key that anyone could guess in a few tries (GATEWAY_PICKLE_KEY=k) used to be taken;
// a key shorter than 16 bytes, or only whitespace, is now a problem naming the variable and how
// to make a good one. One that already encrypts a crypto store may be kept, loudly, with
// GATEWAY_PICKLE_KEY_ALLOW_SHORT=true (refusing it outright would leave the operator a choice
// between not starting and losing the encrypted rooms' keys).
func TestPickleKeyStrength(t *testing.T) {
	const pg = "GATEWAY_DATABASE=postgres://gw@db.example/gateway"
	for _, env := range [][]string{
		{pg, "GATEWAY_PICKLE_KEY=k"},
		{"GATEWAY_PICKLE_KEY=short-key-15byt"},
		{pg, "GATEWAY_PICKLE_KEY=  0123456789abcde   "}, // 15 bytes once trimmed
	} {
		_, err := Load(withBots(env...))
		wantProblems(t, err, 1, "GATEWAY_PICKLE_KEY:", "at least 16 bytes", "openssl rand -hex 32", "GATEWAY_PICKLE_KEY_ALLOW_SHORT")
		if err != nil && strings.Contains(err.Error(), "short-key-15byt") {
			t.Errorf("the problem echoes the key: %v", err)
		}
	}
	_, err := Load(withBots(pg, "GATEWAY_PICKLE_KEY=                    "))
	wantProblems(t, err, 1, "GATEWAY_PICKLE_KEY:", "only whitespace", "at least 16 bytes", "openssl rand -hex 32")
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(withBots(pg, "GATEWAY_PICKLE_KEY_FILE="+file))
	wantProblems(t, err, 1, "GATEWAY_PICKLE_KEY_FILE:", "at least 16 bytes", "openssl rand -hex 32")

	cfg := mustLoad(t, withBots(pg, "GATEWAY_PICKLE_KEY=0123456789abcdef"))
	if cfg.Gateway.PickleKey != "0123456789abcdef" {
		t.Errorf("PickleKey = %q", cfg.Gateway.PickleKey)
	}
	cfg = mustLoad(t, withBots(pg, "GATEWAY_PICKLE_KEY=k", "GATEWAY_PICKLE_KEY_ALLOW_SHORT=true"))
	if cfg.Gateway.PickleKey != "k" || !cfg.Gateway.PickleKeyShort {
		t.Errorf("allowed short key: PickleKey %q, PickleKeyShort %v", cfg.Gateway.PickleKey, cfg.Gateway.PickleKeyShort)
	}
	if cfg := mustLoad(t, withBots(pg, "GATEWAY_PICKLE_KEY=0123456789abcdef", "GATEWAY_PICKLE_KEY_ALLOW_SHORT=true")); cfg.Gateway.PickleKeyShort {
		t.Error("a key of 16 bytes is reported short")
	}
	_, err = Load(withBots(pg, "GATEWAY_PICKLE_KEY=   ", "GATEWAY_PICKLE_KEY_ALLOW_SHORT=true"))
	wantProblems(t, err, 1, "GATEWAY_PICKLE_KEY:", "only whitespace")
}

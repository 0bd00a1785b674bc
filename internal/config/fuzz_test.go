package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadBots feeds arbitrary bytes as MATRIX_BOTS: Load must never panic
// and must return either a usable Config or a *Error with problems.
func FuzzLoadBots(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "seed", "*.json"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		``, `[]`, `null`, `{}`, `[null]`, `[1, "a", true, [], {}]`, `[{"homeserver": 1}]`,
		`[{"homeserver": "https://m.example", "access_token": "t", "sync_filter": ""}]`,
		`[{"homeserver": "https://m.example", "access_token": "t", "auto_accept_whitelist": [null]}]`,
		`[{"homeserver": "https://m.example", "access_token": "t", "onebot_self_id": 99999999999999999999}]`,
		`[{"homeserver": "https://m.example", "oauth_enabled": true, "oauth_callback_timeout": 1e308}]`,
		`[{"a": 1, "a": 2}]`, "[{\"homeserver\": \"\xff\"}]", `[{`, `'[]'`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Load([]string{"MATRIX_BOTS=" + string(data)})
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("error %v (%T) is not a *Error with problems", err, err)
			}
			for _, p := range cerr.Problems {
				if p.Key == "" || p.Message == "" {
					t.Fatalf("problem without key or message: %#v", p)
				}
			}
			return
		}
		if len(cfg.Bots) == 0 {
			t.Fatal("no error but no bots")
		}
		for i, b := range cfg.Bots {
			if b.Index != i || b.Homeserver == "" {
				t.Fatalf("bot %d: %v", i, b)
			}
			_ = b.String()
			_, _ = b.SyncFilterID()
			_, _ = b.SyncFilterJSON()
		}
	})
}

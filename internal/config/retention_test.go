package config

import (
	"strings"
	"testing"
	"time"
)

// Retention is on by default: a week of messages, at most 10000 per bot and room, a day of
// decrypted bodies of encrypted rooms and of files.
func TestRetentionDefaults(t *testing.T) {
	g := mustLoad(t, withBots()).Gateway
	if g.MessageRetention != 7*24*time.Hour || g.MessageRetentionCount != 10000 ||
		g.EncryptedBodyRetention != 24*time.Hour || g.FileRetention != 24*time.Hour {
		t.Errorf("defaults: message %v / %d, encrypted body %v, file %v", g.MessageRetention, g.MessageRetentionCount,
			g.EncryptedBodyRetention, g.FileRetention)
	}
	if s := g.String(); !strings.Contains(s, "message_retention=168h0m0s") {
		t.Errorf("String() does not show the retention: %s", s)
	}
}

func TestRetentionValues(t *testing.T) {
	g := mustLoad(t, withBots("GATEWAY_MESSAGE_RETENTION=1.5d", "GATEWAY_MESSAGE_RETENTION_COUNT=50",
		"GATEWAY_ENCRYPTED_BODY_RETENTION=0", "GATEWAY_FILE_RETENTION=90m")).Gateway
	if g.MessageRetention != 36*time.Hour || g.MessageRetentionCount != 50 || g.EncryptedBodyRetention != 0 || g.FileRetention != 90*time.Minute {
		t.Errorf("values: message %v / %d, encrypted body %v, file %v", g.MessageRetention, g.MessageRetentionCount,
			g.EncryptedBodyRetention, g.FileRetention)
	}
	_, err := Load(withBots("GATEWAY_MESSAGE_RETENTION=forever", "GATEWAY_MESSAGE_RETENTION_COUNT=0",
		"GATEWAY_ENCRYPTED_BODY_RETENTION=-1h", "GATEWAY_FILE_RETENTION=0"))
	wantProblems(t, err, 4, "GATEWAY_MESSAGE_RETENTION: invalid value \"forever\"", "GATEWAY_MESSAGE_RETENTION_COUNT",
		"GATEWAY_ENCRYPTED_BODY_RETENTION: must not be negative", "GATEWAY_FILE_RETENTION: must be greater than 0")
	_, err = Load(withBots("GATEWAY_MESSAGE_RETENTION=1d", "GATEWAY_ENCRYPTED_BODY_RETENTION=2d"))
	wantProblems(t, err, 1, "GATEWAY_ENCRYPTED_BODY_RETENTION: 48h0m0s is longer than GATEWAY_MESSAGE_RETENTION")
	_, err = Load(withBots("GATEWAY_MESSAGE_RETENTION=0", "GATEWAY_FILE_RETENTION=9999999999999d"))
	wantProblems(t, err, 2, "GATEWAY_MESSAGE_RETENTION: must be greater than 0; set a duration such as 7d", "GATEWAY_FILE_RETENTION")
}

// FuzzLongDuration: the retention durations never panic, and every accepted value is a
// non-negative duration that days and Go durations agree on.
func FuzzLongDuration(f *testing.F) {
	for _, s := range []string{"7d", "1.5d", "24h", "0", "-1d", "1e308d", "NaNd", "Infd", "d", "", " 2d ", "1h30m", "0x10d", "9223372036854775807ns"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var d longDuration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return
		}
		if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok && d < 0 {
			t.Fatalf("%q (%s days) gave a negative duration %v", s, n, time.Duration(d))
		}
	})
}

package e2ee

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// mautrix's crypto lines follow the gateway's log level: a debug line (key sharing, withheld
// and key request decisions are logged at debug) passes at debug and not at info; trace never.
func TestCryptoLogFollowsLevel(t *testing.T) {
	for _, tc := range []struct {
		level      slog.Level
		debug      bool
		infoPasses bool
	}{
		{slog.LevelDebug, true, true},
		{slog.LevelInfo, false, true},
		{slog.LevelWarn, false, false},
	} {
		var buf bytes.Buffer
		zl := newZerolog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})))
		zl.Debug().Str("session_id", "S1").Msg("Sharing group session for room")
		zl.Info().Msg("an info line")
		zl.Trace().Msg("a trace line")
		out := buf.String()
		if got := strings.Contains(out, `level=DEBUG msg="Sharing group session for room" component=crypto session_id=S1`); got != tc.debug {
			t.Errorf("level %v: debug line shown = %v, want %v:\n%s", tc.level, got, tc.debug, out)
		}
		if got := strings.Contains(out, `msg="an info line"`); got != tc.infoPasses {
			t.Errorf("level %v: info line shown = %v, want %v:\n%s", tc.level, got, tc.infoPasses, out)
		}
		if strings.Contains(out, "a trace line") {
			t.Errorf("level %v: trace lines must never pass:\n%s", tc.level, out)
		}
	}
}

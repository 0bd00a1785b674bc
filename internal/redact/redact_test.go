package redact

import (
	"strings"
	"testing"
)

func TestURLHidesQueryAndPassword(t *testing.T) {
	for raw, want := range map[string]string{
		"ws://u:secret@host:8080/onebot/v12/ws?access_token=tok": "ws://u:xxxxx@host:8080/onebot/v12/ws?REDACTED",
		"https://host/path":  "https://host/path",
		"http://[::1]:%zz/x": "(invalid URL)",
	} {
		got := URL(raw)
		if got != want || strings.Contains(got, "secret") || strings.Contains(got, "tok") {
			t.Errorf("URL(%q) = %q, want %q", raw, got, want)
		}
	}
}

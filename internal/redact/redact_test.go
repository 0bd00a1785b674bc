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

// Origin keeps only scheme://host[:port] of a URL and a stable hash of the rest: no part of the
// path, query or user info shows, and endpoints of one host that differ only there stay apart.
func TestOriginHidesPathQueryAndUserInfo(t *testing.T) {
	const secretPath = "https://hooks.example.org:8443/hooks/s3cretpath?token=q5ecret"
	got := Origin(secretPath)
	if !strings.HasPrefix(got, "https://hooks.example.org:8443/…#") || len(got) != len("https://hooks.example.org:8443/…#")+8 {
		t.Errorf("Origin(%q) = %q, want the origin and an 8-digit hash", secretPath, got)
	}
	for _, raw := range []string{secretPath, "http://u:pw5ecret@host/x", "http://host/a#fr4gment", "http://host/p4th"} {
		o := Origin(raw)
		for _, secret := range []string{"s3cret", "q5ecret", "pw5ecret", "fr4gment", "p4th", "token", "u:"} {
			if strings.Contains(o, secret) {
				t.Errorf("Origin(%q) = %q shows %q", raw, o, secret)
			}
		}
		if Origin(raw) != o {
			t.Errorf("Origin(%q) is not stable", raw)
		}
	}
	seen := map[string]string{}
	for _, raw := range []string{secretPath, "https://hooks.example.org:8443/hooks/other?token=q5ecret",
		"https://hooks.example.org:8443/hooks/s3cretpath?token=other", "https://u:p@hooks.example.org:8443/hooks/s3cretpath?token=q5ecret"} {
		o := Origin(raw)
		if prev, ok := seen[o]; ok {
			t.Errorf("%q and %q both render as %q", prev, raw, o)
		}
		seen[o] = raw
	}
	for raw, want := range map[string]string{
		"https://host":        "https://host",
		"https://host/":       "https://host",
		"HTTP://[::1]:5700/":  "http://[::1]:5700",
		"http://[::1]:%zz/x":  "(invalid URL)",
		"/relative/s3cret":    "(invalid URL)",
		"mailto:s3cret@x.org": "(invalid URL)",
	} {
		if got := Origin(raw); got != want {
			t.Errorf("Origin(%q) = %q, want %q", raw, got, want)
		}
	}
}

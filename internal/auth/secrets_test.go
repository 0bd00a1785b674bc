package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// What the operator pastes is never echoed: not in a log line, not in an error.
func TestPastedSecretsStayOutOfLogsAndErrors(t *testing.T) {
	const secret = "SECRETCODE4711"
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, in := range []string{
		secret, // a bare code: a warning that the state was not checked
		"https://app.example/cb?code=" + secret + "&state=wrong",
		"https://app.example/cb#code=" + secret + "&%zz",
		"https://app.example/cb?error=access_denied&code=" + secret,
		"https://app.example/cb?state=S&x=" + secret,
		"not a url " + secret,
	} {
		_, err := parsePasted(in, "S", log)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("pasting %q: the error repeats the secret: %v", in, err)
		}
	}
	if !strings.Contains(buf.String(), "state could not be checked") {
		t.Fatalf("no warning for a bare code; the log:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), secret) {
		t.Errorf("the log repeats a pasted secret:\n%s", buf.String())
	}
}

// The log prompter shows what the operator must open: the authorization URL, or the device
// flow's URL and user code (which the operator needs), and no more.
func TestLogPrompterShowsOnlyWhatToOpen(t *testing.T) {
	var buf bytes.Buffer
	p := LogPrompter{Log: slog.New(slog.NewTextHandler(&buf, nil))}
	p.ShowUserCode("https://auth.example/device", "https://auth.example/device?user_code=ABCD-EFGH", "ABCD-EFGH", time.Minute)
	if out := buf.String(); !strings.Contains(out, "code=ABCD-EFGH") || !strings.Contains(out, "https://auth.example/device") {
		t.Errorf("the device flow's prompt lacks the code or URL: %s", out)
	}
	if _, err := p.ReadRedirect(context.Background()); err == nil || !strings.Contains(err.Error(), "gateway login") {
		t.Errorf("a service asked to read a pasted redirect: %v", err)
	}
}

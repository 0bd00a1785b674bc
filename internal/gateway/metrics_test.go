package gateway

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func getWith(t *testing.T, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// /metrics needs the gateway's access token (401 without, 403 with a bot's own token) unless
// Options.MetricsPublic; a browser page is refused as on every route.
func TestMetricsAccess(t *testing.T) {
	for _, public := range []bool{false, true} {
		h := NewHub(Options{Version: "test", AccessToken: testToken, BotTokens: true, HeartbeatInterval: time.Hour,
			IDs: newTestDB(t).IDs(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MetricsPublic: public})
		h.AddBotWithToken(fakes.NewFakeBot("@bot:example.org"), 10001, "bot-own-token")
		srv := httptest.NewServer(h.Handler())
		want := func(name string, hdr map[string]string, status int) {
			t.Helper()
			code, body := getWith(t, srv.URL+"/metrics", hdr)
			if code != status {
				t.Errorf("public=%v %s: status %d, want %d: %s", public, name, code, status, body)
			}
			if status == http.StatusOK && !strings.Contains(body, "onebot_gateway_sync_state") && !strings.Contains(body, "onebot_gateway_events_dropped_total") {
				t.Errorf("public=%v %s: no gateway metrics in %q", public, name, body)
			}
		}
		if public {
			want("no token", nil, http.StatusOK)
		} else {
			want("no token", nil, http.StatusUnauthorized)
			want("wrong token", map[string]string{"Authorization": "Bearer nope"}, http.StatusForbidden)
			want("bot token", map[string]string{"Authorization": "Bearer bot-own-token"}, http.StatusForbidden)
		}
		want("access token", bearer, http.StatusOK)
		want("browser page", map[string]string{"Authorization": "Bearer " + testToken, "Origin": "https://evil.example"}, http.StatusForbidden)
		srv.Close()
	}
}

// Action labels are bounded: a made-up action name is counted as "unknown", never as itself.
func TestMetricsUnknownActionLabel(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	post(t, srv, "/onebot/v12/", `{"action":"made_up_action_x1"}`, bearer)
	post(t, srv, "/onebot/v12/", `{"action":"get_version"}`, bearer)
	_, body := getWith(t, srv.URL+"/metrics", bearer)
	if strings.Contains(body, "made_up_action_x1") {
		t.Errorf("/metrics shows a client's action name:\n%s", body)
	}
	for _, want := range []string{
		`onebot_gateway_action_duration_seconds_count{action="unknown",bot="@bot:example.org",retcode="10002",version="12"} 1`,
		`onebot_gateway_action_duration_seconds_count{action="get_version",bot="@bot:example.org",retcode="0",version="12"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(body, "action_duration_seconds_count"))
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The access log has one line per request with method, path, status, duration and bytes, and
// never the query (access_token, media signatures).
func TestAccessLogWithoutSecrets(t *testing.T) {
	var buf syncBuffer
	h := NewHub(Options{Version: "test", AccessToken: testToken, HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), AccessLogLevel: slog.LevelInfo})
	h.AddBot(fakes.NewFakeBot("@bot:example.org"), 10001)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	code, _ := getWith(t, srv.URL+"/onebot/v11/get_status?access_token="+testToken+"&x=sig-secret-123", nil)
	if code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	_, _ = getWith(t, srv.URL+"/media/abc?sig=media-signature-456", nil)
	_, _ = getWith(t, srv.URL+"/readyz", nil) // health probes are left out
	log := buf.String()
	if strings.Contains(log, "path=/readyz") {
		t.Errorf("a health probe is in the access log:\n%s", log)
	}
	for _, secret := range []string{testToken, "sig-secret-123", "media-signature-456"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
	line := grepLines(log, "path=/onebot/v11/get_status")
	for _, want := range []string{"level=INFO", `msg="HTTP request"`, "method=GET", "status=200", "duration=", "bytes="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line %q lacks %s; log:\n%s", line, want, log)
		}
	}
	if !strings.Contains(log, "path=/media/abc") {
		t.Errorf("no access log line of the media request:\n%s", log)
	}
}

// AccessLogOff: no access log at all.
func TestAccessLogOff(t *testing.T) {
	var buf syncBuffer
	h := NewHub(Options{Version: "test", HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), AccessLogOff: true})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	_, _ = getWith(t, srv.URL+"/healthz", nil)
	if strings.Contains(buf.String(), "HTTP request") {
		t.Errorf("access log written while off:\n%s", buf.String())
	}
}

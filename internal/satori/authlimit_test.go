package satori

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// limitedHost is fakeHubHost with the hub's real limiter of wrong tokens (face.AuthLimiter).
type limitedHost struct {
	fakeHubHost
	lim *web.AuthLimiter
}

func (h *limitedHost) AuthAllowed(addr string) bool { return h.lim.Allowed(addr) }
func (h *limitedHost) AuthFailed(face, addr string) { h.lim.Failed(face, addr) }
func (h *limitedHost) AuthRetryAfter() int          { return h.lim.RetryAfter() }

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

func limitedFace(t *testing.T) (*limitedHost, *testFace, http.Handler, *syncBuffer, *time.Time) {
	bot := fakes.NewFakeBot("@bot:example.org")
	logs := &syncBuffer{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := web.NewAuthLimiter(slog.New(slog.NewTextHandler(logs, nil)))
	lim.Now = func() time.Time { return now }
	host := &limitedHost{fakeHubHost: fakeHubHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, subscribed: make(chan struct{})}, lim: lim}
	f := New(Options{})
	r := chi.NewRouter()
	f.MountPublic(r, host)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return host, &testFace{face: f, bot: bot, srv: srv}, r, logs, &now
}

// Wrong tokens on the Satori API used to be answered 403 for ever, as fast as a client could
// send them. After web.AuthFailLimit of them from one address within the window, that address is
// answered 429 with Retry-After whatever token it sends (the event stream too, before its
// upgrade), logged once; another address is served; the window's end lets the address in again.
func TestAPIWrongTokensLimitedPerAddress(t *testing.T) {
	host, tf, handler, logs, now := limitedFace(t)
	body := `{"channel_id":"` + string(fakes.FakeRoom) + `","content":"hi"}`
	for i := range web.AuthFailLimit {
		if status, resp := tf.post(t, "message.create", body, map[string]string{"Authorization": "Bearer guess"}); status != http.StatusForbidden {
			t.Fatalf("wrong token %d: %d %s, want 403", i+1, status, resp)
		}
	}
	for _, tok := range []string{"guess", testToken} {
		req, _ := http.NewRequest(http.MethodPost, tf.srv.URL+"/v1/message.create", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
			t.Errorf("after %d wrong tokens, token %q: %d (Retry-After %q), want 429 with Retry-After 60", web.AuthFailLimit, tok, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(tf.srv.URL, "http")+"/v1/events", nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("the event stream upgraded for an address over the limit")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the event stream for an address over the limit: %v %v, want 429", resp, err)
	}
	// Another address is not locked out.
	req := httptest.NewRequest(http.MethodPost, "/v1/message.create", strings.NewReader(body))
	req.RemoteAddr = "192.0.2.7:40000"
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("a client on another address: %d %s, want 200", rec.Code, rec.Body.String())
	}
	if n := strings.Count(logs.String(), "too many wrong access tokens"); n != 1 {
		t.Errorf("logged %d times, want once per window:\n%s", n, logs.String())
	}
	if f, r := host.lim.Failures.Load(), host.lim.Refused.Load(); f != int64(web.AuthFailLimit) || r != 3 {
		t.Errorf("counted %d failures and %d refusals, want %d and 3", f, r, web.AuthFailLimit)
	}
	*now = now.Add(web.AuthFailWindow)
	if status, resp := tf.post(t, "message.create", body, nil); status != http.StatusOK {
		t.Fatalf("once the window passed: %d %s, want 200", status, resp)
	}
}

// Wrong tokens in IDENTIFY count the same way: after the limit, the next event stream from the
// address is refused before its upgrade.
func TestIdentifyWrongTokensLimitedPerAddress(t *testing.T) {
	host, tf, _, _, _ := limitedFace(t)
	for i := range web.AuthFailLimit {
		s := tf.dial(t)
		s.send(OpIdentify, Identify{Token: "guess"})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := s.c.Read(ctx)
		cancel()
		if websocket.CloseStatus(err) != closeUnauthorized {
			t.Fatalf("IDENTIFY %d with a wrong token: %v, want close %d", i+1, err, closeUnauthorized)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(tf.srv.URL, "http")+"/v1/events", nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatal("the event stream upgraded after the limit of wrong IDENTIFY tokens")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after the limit: %v %v, want 429", resp, err)
	}
	if f := host.lim.Failures.Load(); f != int64(web.AuthFailLimit) {
		t.Errorf("counted %d failures, want %d", f, web.AuthFailLimit)
	}
}

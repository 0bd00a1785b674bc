package satori

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// fakeBudgetHost is fakeHubHost with a budget of request bytes (face.BodyReader): full, it
// refuses; else it counts what is held until release.
type fakeBudgetHost struct {
	fakeHubHost
	full bool
	held atomic.Int64
	max  atomic.Int64 // the most held at once
}

func (h *fakeBudgetHost) ReadBody(_ context.Context, r io.Reader, limit int64) ([]byte, func(), error) {
	if h.full {
		return nil, nil, face.ErrBusy
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > limit {
		return nil, nil, face.ErrTooLarge
	}
	n := h.held.Add(int64(len(b)))
	h.max.Store(max(h.max.Load(), n))
	return b, func() { h.held.Add(-int64(len(b))) }, nil
}

// On the hub, API request bodies count against the process's request bytes in flight
// (GATEWAY_MAX_BYTES_IN_FLIGHT) until the request is answered: a full budget answers 503 with
// Retry-After, a body over the limit 413, and a request's bytes are given back.
func TestAPIBodiesCountInFlight(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	host := &fakeBudgetHost{fakeHubHost: fakeHubHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, subscribed: make(chan struct{})}}
	f := New(Options{MaxBody: 1000})
	r := chi.NewRouter()
	f.MountPublic(r, host)
	srv := httptest.NewServer(r)
	defer srv.Close()
	tf := &testFace{face: f, bot: bot, srv: srv}

	body := `{"channel_id":"` + string(fakes.FakeRoom) + `","content":"hi"}`
	if status, resp := tf.post(t, "message.create", body, nil); status != http.StatusOK {
		t.Fatalf("message.create: %d %s", status, resp)
	}
	if host.max.Load() != int64(len(body)) || host.held.Load() != 0 {
		t.Fatalf("held at most %d, now %d; want the body's %d bytes counted, then given back", host.max.Load(), host.held.Load(), len(body))
	}
	if status, resp := tf.post(t, "message.create", `{"content":"`+strings.Repeat("x", 1000)+`"}`, nil); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over MaxBody: %d %s, want 413", status, resp)
	}
	host.full = true
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/message.create", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(msg), "GATEWAY_MAX_BYTES_IN_FLIGHT") {
		t.Fatalf("a full budget: %d %s (Retry-After %q), want 503 naming GATEWAY_MAX_BYTES_IN_FLIGHT", resp.StatusCode, msg, resp.Header.Get("Retry-After"))
	}
}

// Only message.create and message.update (whose content may carry a file as a data: URL) may send
// bodies up to MaxBody; every other method is limited to MaxActionSize (GATEWAY_MAX_ACTION_SIZE,
// default 1 MiB) as OneBot's actions without a file are, on the hub and without it.
func TestAPIOnlyMessagesMayBeLarge(t *testing.T) {
	pad := strings.Repeat("x", 2<<20)
	bot := fakes.NewFakeBot("@bot:example.org")
	budget := &fakeBudgetHost{fakeHubHost: fakeHubHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, subscribed: make(chan struct{})}}
	for name, host := range map[string]face.Host{"standalone": nil, "hub": budget} {
		f := New(Options{MaxBody: 4 << 20, Host: &fakeHost{bots: []model.Bot{bot}}})
		var h http.Handler = f.Handler()
		if host != nil {
			r := chi.NewRouter()
			f.MountPublic(r, host)
			h = r
		}
		srv := httptest.NewServer(h)
		tf := &testFace{face: f, bot: bot, srv: srv}
		status, resp := tf.post(t, "channel.get", `{"channel_id":"`+string(fakes.FakeRoom)+`","pad":"`+pad+`"}`, nil)
		if status != http.StatusRequestEntityTooLarge || !strings.Contains(string(resp), "GATEWAY_MAX_ACTION_SIZE") {
			t.Errorf("%s: 2 MiB channel.get: %d %.200s, want 413 naming GATEWAY_MAX_ACTION_SIZE", name, status, resp)
		}
		if status, resp := tf.post(t, "message.create", `{"channel_id":"`+string(fakes.FakeRoom)+`","content":"`+pad+`"}`, nil); status != http.StatusOK {
			t.Errorf("%s: 2 MiB message.create: %d %.200s, want 200", name, status, resp)
		}
		srv.Close()
	}
}

// A method of the Satori protocol that the gateway does not serve answers 501 naming it and why;
// a method that does not exist stays 404.
func TestAPIUnservedMethodsAre501(t *testing.T) {
	tf := newTestFace(t, Options{})
	for _, m := range []string{"channel.delete", "guild.member.role.set", "guild.role.list", "channel.create", "guild.role.create", "friend.delete"} {
		status, body := tf.post(t, m, `{}`, nil)
		if status != http.StatusNotImplemented || !strings.Contains(string(body), m+" is not served") {
			t.Errorf("%s: %d %s, want 501 naming the method", m, status, body)
		}
	}
	if status, _ := tf.post(t, "no.such.method", `{}`, nil); status != http.StatusNotFound {
		t.Errorf("an unknown method: %d, want 404", status)
	}
}

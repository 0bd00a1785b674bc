package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// readyServer answers /readyz with the given status and body, and counts the requests to it.
func readyServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func runHealthcheck(environ []string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"gateway", "healthcheck"}, args...), environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

// `gateway healthcheck` asks /readyz at GATEWAY_LISTEN; a wildcard listener (the container's
// 0.0.0.0) is asked on loopback. Ready is exit 0, not ready exit 1 with the bots' reasons.
func TestHealthcheckAsksReadyz(t *testing.T) {
	ready, readyHits := readyServer(t, http.StatusOK, `{"ready":true,"bots":[]}`)
	_, port, _ := net.SplitHostPort(ready.Listener.Addr().String())
	code, out, errOut := runHealthcheck([]string{"GATEWAY_LISTEN=0.0.0.0:" + port})
	if code != exitOK || readyHits.Load() != 1 || !strings.Contains(out, "ready") {
		t.Fatalf("ready gateway: exit %d (want 0), %d requests to /readyz, stdout %q, stderr %q", code, readyHits.Load(), out, errOut)
	}

	notReady, hits := readyServer(t, http.StatusServiceUnavailable,
		`{"ready":false,"bots":[{"user_id":"@bot:hs","state":"offline","reason":"login refused"},{"user_id":"@ok:hs","state":"syncing"}]}`)
	code, _, errOut = runHealthcheck([]string{"GATEWAY_LISTEN=" + notReady.Listener.Addr().String()})
	if code != exitFailure || hits.Load() != 1 {
		t.Fatalf("not ready gateway: exit %d (want 1), %d requests; stderr %q", code, hits.Load(), errOut)
	}
	if !strings.Contains(errOut, "503") || !strings.Contains(errOut, "@bot:hs offline (login refused)") || strings.Contains(errOut, "@ok:hs") {
		t.Errorf("not ready gateway: stderr %q should give the status and the bot that is not syncing, with its reason", errOut)
	}

	// The base URL as the argument, with or without a trailing slash.
	code, _, errOut = runHealthcheck(nil, ready.URL+"/")
	if code != exitOK || readyHits.Load() != 2 {
		t.Fatalf("healthcheck %s/: exit %d, stderr %q", ready.URL, code, errOut)
	}
}

// Nothing listening is unhealthy (1), not a crash; a configuration that cannot be asked is a
// configuration error (2) naming what to set.
func TestHealthcheckFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if code, _, errOut := runHealthcheck([]string{"GATEWAY_LISTEN=" + addr}); code != exitFailure || !strings.Contains(errOut, "cannot be reached") {
		t.Errorf("nothing listening: exit %d (want 1), stderr %q", code, errOut)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"GATEWAY_LISTEN="}, nil, "GATEWAY_LISTEN is empty"},
		{[]string{"GATEWAY_LISTEN=5700"}, nil, "GATEWAY_LISTEN \"5700\" is not host:port"},
		{nil, []string{"ftp://x"}, "not a base URL"},
		{nil, []string{"http://a", "http://b"}, "at most one argument"},
	} {
		code, _, errOut := runHealthcheck(tc.env, tc.args...)
		if code != exitConfig || !strings.Contains(errOut, tc.want) {
			t.Errorf("env %q args %q: exit %d (want 2), stderr %q (want %q)", tc.env, tc.args, code, errOut, tc.want)
		}
	}
}

// The healthcheck's inputs (its argument, GATEWAY_LISTEN, the /readyz body) never crash it, and
// an address it accepts is an http URL of /readyz on the listener's port.
func FuzzHealthcheckInputs(f *testing.F) {
	f.Add("", "0.0.0.0:5700", `{"ready":false,"bots":[{"user_id":"@b:hs","state":"offline","reason":"x"}]}`)
	f.Add("http://127.0.0.1:5700/", "", `{"bots":null}`)
	f.Add("", "[::]:1", `[]`)
	f.Add("", ":5700", `{"bots":[{}]}`)
	f.Fuzz(func(t *testing.T, arg, listen, body string) {
		_ = readyReason([]byte(body))
		var args []string
		if arg != "" {
			args = []string{arg}
		}
		u, err := readyzURL(args, []string{"GATEWAY_LISTEN=" + listen})
		if err != nil {
			return
		}
		parsed, perr := url.Parse(u)
		if perr != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || !strings.HasSuffix(parsed.Path, "/readyz") {
			t.Fatalf("readyzURL(%q, GATEWAY_LISTEN=%q) = %q: not an http URL of /readyz (%v)", arg, listen, u, perr)
		}
		if arg == "" {
			if _, port, _ := net.SplitHostPort(strings.TrimSpace(listen)); parsed.Port() != port {
				t.Fatalf("readyzURL(GATEWAY_LISTEN=%q) = %q: not the listener's port", listen, u)
			}
		}
	})
}

// The base URL may carry a password (a proxy's basic auth): what the healthcheck prints — kept by
// Docker in the container's health log — shows the URL without it, reachable or not.
func TestHealthcheckHidesPassword(t *testing.T) {
	notReady, _ := readyServer(t, http.StatusServiceUnavailable, `{"ready":false,"bots":[]}`)
	u, _ := url.Parse(notReady.URL)
	u.User = url.UserPassword("op", "s3cret-pw")
	_, out, errOut := runHealthcheck(nil, u.String())
	if strings.Contains(out+errOut, "s3cret-pw") || !strings.Contains(errOut, "503") {
		t.Errorf("not ready gateway: output %q should give the status without the password", out+errOut)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	u, _ = url.Parse(closed.URL)
	closed.Close()
	u.User = url.UserPassword("op", "s3cret-pw")
	code, out, errOut := runHealthcheck(nil, u.String())
	if code != exitFailure || strings.Contains(out+errOut, "s3cret-pw") || !strings.Contains(errOut, "cannot be reached") {
		t.Errorf("unreachable gateway: exit %d, output %q should say it cannot be reached, without the password", code, out+errOut)
	}
}

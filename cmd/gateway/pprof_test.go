package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestPprofServesProfilesOnItsOwnListener(t *testing.T) {
	addr, stop, err := startPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/debug/pprof/":                  "allocs",
		"/debug/pprof/allocs?debug=1":    "heap profile",
		"/debug/pprof/goroutine?debug=1": "goroutine profile",
		"/debug/pprof/cmdline":           "",
		"/debug/pprof/profile?seconds=1": "",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: HTTP %d, %d bytes, want 200 with %q", path, resp.StatusCode, len(body), want)
		}
	}
	if resp, err := http.Get("http://" + addr + "/onebot/v12/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the pprof listener serves other paths: HTTP %d", resp.StatusCode)
		}
	}
	stop()
	if resp, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		t.Fatal("still serving after stop")
	}
	if _, _, err := startPprof("256.0.0.1:1", slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("an address that cannot be bound: want an error")
	}
}

// The profiler serves loopback only, whatever address it is given (a host name such as
// localhost may resolve elsewhere), and only to requests that name it by a loopback host, without
// a page's Origin: a page whose DNS name was rebound to 127.0.0.1 cannot read the profiles.
func TestPprofLoopbackOnlyReally(t *testing.T) {
	if _, stop, err := startPprof("0.0.0.0:0", slog.New(slog.DiscardHandler)); err == nil {
		stop()
		t.Fatal("0.0.0.0: served; want an error (not loopback)")
	}
	addr, stop, err := startPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	_, port, _ := strings.Cut(addr, ":")
	for _, c := range []struct {
		host, origin, site string
		want               int
	}{
		{"127.0.0.1:" + port, "", "", http.StatusOK},
		{"localhost:" + port, "", "none", http.StatusOK},
		{"[::1]:" + port, "", "", http.StatusOK},
		{"rebound.evil.example:" + port, "", "", http.StatusForbidden},
		{"127.0.0.1:" + port, "http://evil.example", "", http.StatusForbidden},
		{"127.0.0.1:" + port, "", "cross-site", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/debug/pprof/cmdline", nil)
		req.Host = c.host
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.site != "" {
			req.Header.Set("Sec-Fetch-Site", c.site)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("Host %s Origin %q: HTTP %d, want %d", c.host, c.origin, resp.StatusCode, c.want)
		}
	}
}

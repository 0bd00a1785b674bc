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

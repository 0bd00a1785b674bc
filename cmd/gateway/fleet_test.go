package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// logBuffer is the gateway's stderr, written by its goroutines and read by the test.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gatewayRun is the gateway's serve running in this process.
type gatewayRun struct {
	url    string
	log    *logBuffer
	stop   func() int // stops it and returns its exit code
	reload chan struct{}
	token  string // GATEWAY_ACCESS_TOKEN
}

// fleetBots is MATRIX_BOTS for accounts from to to-1 of the fake fleet homeserver (which serves
// no end-to-end encryption).
func fleetBots(hs *fakes.FakeFleetHomeserver, from, to int) string {
	bots := make([]map[string]any, 0, to-from)
	for i := from; i < to; i++ {
		bots = append(bots, map[string]any{"homeserver": hs.URL, "user_id": fakes.FleetUser(i), "access_token": fakes.FleetToken(i), "e2ee": false})
	}
	out, _ := json.Marshal(bots)
	return string(out)
}

// startServe runs serve with env (plus a free GATEWAY_LISTEN and a database in a temporary
// folder) until the test ends or stop is called.
func startServe(t *testing.T, env map[string]string) *gatewayRun {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	full := map[string]string{"GATEWAY_LISTEN": addr, "GATEWAY_DATABASE": filepath.Join(t.TempDir(), "gateway.db"),
		"MATRIX_SYNC_TIMEOUT": "1000", "GATEWAY_LOG_LEVEL": "debug"}
	for k, v := range env {
		full[k] = strings.ReplaceAll(v, "$SELF_URL", "http://"+addr)
	}
	var environ []string
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayRun{url: "http://" + addr, log: &logBuffer{}, reload: make(chan struct{}, 1), token: full["GATEWAY_ACCESS_TOKEN"]}
	code := make(chan int, 1)
	go func() { code <- serveWith(ctx, environ, g.log, g.reload) }()
	var once sync.Once
	exit := -1
	g.stop = func() int {
		once.Do(func() { cancel(); exit = <-code })
		return exit
	}
	t.Cleanup(func() {
		g.stop()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.log.String())
		}
	})
	return g
}

// readyz returns the status of GET /readyz.
func (g *gatewayRun) readyz() int {
	resp, err := http.Get(g.url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Many bots in one process all become ready, and their starts are spread: the homeserver never
// sees more initial /sync requests at once than GATEWAY_START_CONCURRENCY.
func TestManyBotsStartWithinTheBound(t *testing.T) {
	const bots, bound = 40, 3
	hs := fakes.NewFakeFleetHomeserver(t, bots)
	g := startServe(t, map[string]string{
		"MATRIX_BOTS": fleetBots(hs, 0, bots), "GATEWAY_START_CONCURRENCY": strconv.Itoa(bound), "GATEWAY_START_JITTER": "50ms",
	})
	wait.For(t, time.Minute, "/readyz 200 with every bot syncing", func() bool { return g.readyz() == http.StatusOK })
	if n := hs.InitialSyncs(); n != bots {
		t.Fatalf("%d bots made an initial sync, want %d", n, bots)
	}
	if m := hs.MaxInitialSyncs(); m > bound {
		t.Fatalf("the homeserver saw %d initial syncs at once; GATEWAY_START_CONCURRENCY is %d", m, bound)
	}
	if code := g.stop(); code != exitOK {
		t.Fatalf("exit code %d, want %d", code, exitOK)
	}
}

package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// newWebTestHub is newTestHub with listener options and a file store of maxFile bytes.
func newWebTestHub(t *testing.T, web web.Options, files model.Files) *Hub {
	t.Helper()
	h := NewHub(Options{
		Version: "test", AccessToken: testToken, HeartbeatInterval: time.Hour, IDs: newTestDB(t).IDs(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1, Web: web,
		Media: intake.New(intake.Options{Files: files}),
	})
	h.AddBot(fakes.NewFakeBot("@bot:example.org"), 10001)
	return h
}

func v12Frame(action string, params map[string]any, echo string) []byte {
	b, _ := json.Marshal(map[string]any{"action": action, "params": params, "echo": echo})
	return b
}

// A 16 MB request of an action that carries no file is refused (WebSocket: close 1009 with the
// reason; HTTP: 413), while an upload of that size goes through, over both.
func TestNonFileRequestLimit(t *testing.T) {
	const big = 16 << 20
	h := newWebTestHub(t, web.Options{MaxActionSize: 1 << 20, MaxUploadSize: 24 << 20}, newTestFiles(t, 16<<20, nil))
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	auth := http.Header{"Authorization": {"Bearer " + testToken}}
	pad := strings.Repeat("x", big)
	file := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", big*3/4)))

	// WebSocket: the upload first (the connection survives it), then the oversized get_status.
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), auth)
	c.SetReadLimit(1 << 20)
	readJSON(t, ctx, c) // connect
	readJSON(t, ctx, c) // status_update
	if err := c.Write(ctx, websocket.MessageText, v12Frame("upload_file", map[string]any{"type": "data", "name": "big.bin", "data": file}, "up")); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, ctx, c); m["echo"] != "up" || m["retcode"] != float64(0) {
		t.Fatalf("16 MB upload_file over WebSocket: %v", m)
	}
	if err := c.Write(ctx, websocket.MessageText, v12Frame("get_status", map[string]any{}, pad)); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig || !strings.Contains(ce.Reason, "GATEWAY_MAX_ACTION_SIZE") {
		t.Fatalf("16 MB get_status over WebSocket: %v, want close 1009 naming GATEWAY_MAX_ACTION_SIZE", err)
	}

	// The action after a large params is found too.
	c2 := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), auth)
	readJSON(t, ctx, c2)
	readJSON(t, ctx, c2)
	late, _ := json.Marshal(map[string]any{"params": map[string]any{"pad": pad[:2<<20]}, "action": "get_status"})
	if err := c2.Write(ctx, websocket.MessageText, late); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c2.Read(ctx); !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("2 MB params before the action: %v, want close 1009", err)
	}

	// Naming a file action first and another one last (JSON keeps the last) does not get around it.
	c3 := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), auth)
	readJSON(t, ctx, c3)
	readJSON(t, ctx, c3)
	twice := `{"action":"upload_file","params":{"pad":"` + pad[:2<<20] + `"},"action":"get_status"}`
	if err := c3.Write(ctx, websocket.MessageText, []byte(twice)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c3.Read(ctx); !errors.As(err, &ce) || ce.Code != websocket.StatusMessageTooBig {
		t.Fatalf("a file action named first, another last: %v, want close 1009", err)
	}

	// HTTP: v12 (action in the body) and v11 (action in the path).
	status, resp := post(t, srv, "/onebot/v12/", string(v12Frame("get_status", map[string]any{}, pad)), bearer)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(resp["error"].(string), "GATEWAY_MAX_ACTION_SIZE") {
		t.Fatalf("16 MB v12 get_status over HTTP: %d %v", status, resp)
	}
	status, resp = post(t, srv, "/onebot/v11/get_status", `{"pad":"`+pad+`"}`, bearer)
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("16 MB v11 get_status over HTTP: %d %v", status, resp)
	}
	status, resp = post(t, srv, "/onebot/v12/", string(v12Frame("upload_file", map[string]any{"type": "data", "name": "big2.bin", "data": file}, "")), bearer)
	if status != http.StatusOK || resp["retcode"] != float64(0) {
		t.Fatalf("16 MB upload_file over HTTP: %d %v", status, resp)
	}
	if got := h.Stats().TooLarge.Load(); got != 5 {
		t.Errorf("TooLarge = %d, want 5", got)
	}
	waitHeld(t, h, 0)
}

func waitHeld(t *testing.T, h *Hub, want int64) {
	t.Helper()
	if !wait.Until(10*time.Second, func() bool { return h.inflight.Held() == want }) {
		t.Fatalf("bytes in flight = %d, want %d", h.inflight.Held(), want)
	}
}

// gatedFiles holds every Put until all the clients have started one or a request waits for room
// in flight: without the bound, all four uploads would be held in memory at once.
type gatedFiles struct {
	model.Files
	h        *Hub
	clients  int64
	started  atomic.Int64
	inPut    atomic.Int64
	maxInPut atomic.Int64
}

func (g *gatedFiles) Put(ctx context.Context, name, mimeType string, r io.Reader) (model.FileInfo, error) {
	g.started.Add(1)
	n := g.inPut.Add(1)
	defer g.inPut.Add(-1)
	if n > g.maxInPut.Load() {
		g.maxInPut.Store(n)
	}
	if !wait.Until(30*time.Second, func() bool {
		return g.started.Load() >= g.clients || g.h.inflight.Waiting() > 0
	}) {
		return model.FileInfo{}, errors.New("gate: neither all clients nor a waiting request")
	}
	return g.Files.Put(ctx, name, mimeType, r)
}

// Four clients each send a 3 MB upload frame at once; the process holds at most
// MaxBytesInFlight (8 MiB: two of them) and the others wait for room instead of piling up, then
// go through.
func TestBytesInFlightBounded(t *testing.T) {
	const clients, max = 4, 8 << 20
	gate := &gatedFiles{Files: newTestFiles(t, 4<<20, nil), clients: clients}
	h := newWebTestHub(t, web.Options{MaxActionSize: 64 << 10, MaxUploadSize: 4 << 20, MaxBytesInFlight: max}, gate)
	gate.h = h
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	file := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", 9<<20/4))) // 3 MiB as base64

	var wg sync.WaitGroup
	results := make(chan map[string]any, clients)
	for i := range clients {
		c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), http.Header{"Authorization": {"Bearer " + testToken}})
		readJSON(t, ctx, c)
		readJSON(t, ctx, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Write(ctx, websocket.MessageText, v12Frame("upload_file", map[string]any{"type": "data", "name": "f.bin", "data": file}, string(rune('a'+i)))); err != nil {
				results <- map[string]any{"error": err.Error()}
				return
			}
			_, b, err := c.Read(ctx)
			var m map[string]any
			if err != nil || json.Unmarshal(b, &m) != nil {
				m = map[string]any{"error": errString(err, string(b))}
			}
			results <- m
		}()
	}
	wg.Wait()
	close(results)
	for m := range results {
		if m["retcode"] != float64(0) {
			t.Errorf("upload: %v", m)
		}
	}
	if peak := h.inflight.Peak(); peak > max || peak == 0 {
		t.Errorf("peak bytes in flight = %d, want 1..%d", peak, max)
	}
	if got := gate.maxInPut.Load(); got >= clients {
		t.Errorf("%d uploads were held in memory at once, want fewer than %d", got, clients)
	}
	waitHeld(t, h, 0)
}

// A request that waits longer than the read timeout for room is refused, and says so.
func TestBytesInFlightBusy(t *testing.T) {
	h := newWebTestHub(t, web.Options{MaxActionSize: 64 << 10, MaxUploadSize: 1 << 20, MaxBytesInFlight: 1 << 20, ReadTimeout: 200 * time.Millisecond}, newTestFiles(t, 1<<20, nil))
	if err := h.inflight.Acquire(context.Background(), 1<<20); err != nil { // another request holds everything
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	status, resp := post(t, srv, "/onebot/v12/", `{"action":"get_version"}`, bearer)
	if status != http.StatusServiceUnavailable || !strings.Contains(resp["error"].(string), "GATEWAY_MAX_BYTES_IN_FLIGHT") {
		t.Fatalf("while full: %d %v, want 503", status, resp)
	}
	h.inflight.Release(1 << 20)
	if status, resp := post(t, srv, "/onebot/v12/", `{"action":"get_version"}`, bearer); status != http.StatusOK {
		t.Fatalf("after: %d %v", status, resp)
	}
}

// Every action named as carrying a file exists.
func TestFileActionsExist(t *testing.T) {
	for v, names := range fileActions {
		for name := range names {
			if lookupAction(v, name) == nil {
				t.Errorf("v%d %s is in fileActions but not in the action table", v, name)
			}
		}
	}
}

// A small action request holds about its own size in the bytes in flight while it runs, not a
// 64 KiB buffer: the exact size when the transport knows it (HTTP Content-Length), a few KiB when
// it does not (a WebSocket message), so GATEWAY_MAX_BYTES_IN_FLIGHT admits as many small
// requests as it has room for.
func TestSmallRequestHoldsItsSize(t *testing.T) {
	h := newWebTestHub(t, web.Options{MaxActionSize: 1 << 20, MaxUploadSize: 4 << 20}, newTestFiles(t, 1<<20, nil))
	ctx := context.Background()
	body := `{"action":"get_version","params":{},"echo":"1"}`
	for _, tc := range []struct {
		name string
		size int64
		max  int64
	}{{"length known", int64(len(body)), int64(len(body)) + 1}, {"length unknown", -1, 4 << 10}} {
		req, err := h.web.readRequest(ctx, strings.NewReader(body), tc.size, 12, "")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(req.data) != body {
			t.Fatalf("%s: read %q, want %q", tc.name, req.data, body)
		}
		if held := h.inflight.Held(); held <= 0 || held > tc.max {
			t.Errorf("%s: a %d-byte request holds %d bytes in flight, want 1..%d", tc.name, len(body), held, tc.max)
		}
		req.release()
		if held := h.inflight.Held(); held != 0 {
			t.Fatalf("%s: %d bytes in flight after release", tc.name, held)
		}
	}
}

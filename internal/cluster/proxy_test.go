package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/test/wait"
)

// fakeBudget is a thin stand-in for the hub's budget of request bytes (gateway.BodyReader): it
// holds limit bytes per read, refuses (face.ErrBusy) a read the budget has no room for, and
// records what it holds.
type fakeBudget struct {
	mu        sync.Mutex
	room      int64
	held      int64
	reads     int
	lastLimit int64
}

func (b *fakeBudget) ReadBody(_ context.Context, r io.Reader, limit int64) ([]byte, func(), error) {
	b.mu.Lock()
	b.reads++
	b.lastLimit = limit
	if b.held+limit > b.room {
		b.mu.Unlock()
		return nil, nil, face.ErrBusy
	}
	b.held += limit
	b.mu.Unlock()
	release := func() {
		b.mu.Lock()
		b.held -= limit
		b.mu.Unlock()
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil || int64(len(body)) > limit {
		release()
		return nil, nil, errors.Join(face.ErrTooLarge, err)
	}
	return body, release, nil
}

func (b *fakeBudget) holding() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held
}

// testProxy returns a proxy whose only bot run elsewhere is @there:x (v11 self_id 7), run by
// owner; @here:x runs here. reads counts the reads of the owner map. It has read its first map
// (Prime), as the gateway's has before it serves.
func testProxy(owner string, budget *fakeBudget, reads *atomic.Int64) *Proxy {
	p := newTestProxy(owner, budget, reads)
	p.Prime(context.Background())
	return p
}

// newTestProxy is testProxy before its first map.
func newTestProxy(owner string, budget *fakeBudget, reads *atomic.Int64) *Proxy {
	return &Proxy{
		Local: func(bot string) bool { return bot == "@here:x" },
		Owners: func(context.Context) (map[string]string, error) {
			reads.Add(1)
			return map[string]string{"@there:x": owner}, nil
		},
		V11ID: func(_ context.Context, bot string) (int64, error) {
			if bot == "@there:x" {
				return 7, nil
			}
			return 0, errors.New("unknown")
		},
		Body: budget, MaxBody: 4096, Refresh: time.Hour, Log: slog.New(slog.DiscardHandler), Key: testKey,
	}
}

// testKey is the cluster's key of testProxy.
var testKey = []byte("the test cluster's key")

func serve(h http.Handler, method, path, body string, proxied bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if proxied {
		req.Header.Set(proxiedHeader, "1")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A request for a bot another gateway runs goes there, with its body whole and marked as sent
// on; one already sent on, or for a bot run here or by nobody, is served here.
func TestProxySendsRequestsToTheOwner(t *testing.T) {
	var gotBody, gotMark string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotMark = string(b), r.Header.Get(proxiedHeader)
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner.Close()
	var reads atomic.Int64
	p := testProxy(owner.URL, &fakeBudget{room: 1 << 20}, &reads)
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		_, _ = io.WriteString(w, "local")
	}))
	do := func(method, path, body string, proxied bool) string {
		return serve(h, method, path, body, proxied).Body.String()
	}
	action := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "@there:x"}}`
	// The mark proves to the owner that a gateway of the cluster sent the request on for the
	// client it names last in X-Forwarded-For (httptest's client is 192.0.2.1).
	if got := do(http.MethodPost, "/onebot/v12/", action, false); got != "owner" || gotBody != action || gotMark != web.ProxyMark(testKey, "192.0.2.1") {
		t.Fatalf("v12 action for another gateway's bot: answered by %q, body %q, mark %q", got, gotBody, gotMark)
	}
	if got := do(http.MethodPost, "/onebot/v12/", action, true); got != "local" {
		t.Fatalf("a request already sent on was sent on again (%q)", got)
	}
	if got := do(http.MethodPost, "/onebot/v11/7/get_login_info", "{}", false); got != "owner" {
		t.Fatalf("v11 action for another gateway's bot: answered by %q", got)
	}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/onebot/v12/", strings.Replace(action, "@there:x", "@here:x", 1)},
		{http.MethodPost, "/onebot/v12/", strings.Replace(action, "@there:x", "@nobody:x", 1)},
		{http.MethodPost, "/onebot/v12/", "not json"},
		{http.MethodPost, "/onebot/v11/8/get_login_info", "{}"},
		{http.MethodGet, "/onebot/v11/send_msg", ""},
	} {
		if got := do(c.method, c.path, c.body, false); got != "local" || gotBody != c.body {
			t.Errorf("%s %s %q: answered by %q with body %q, want here with the body whole", c.method, c.path, c.body, got, gotBody)
		}
	}
}

// Whatever self_id or bot clients name, before any authentication, the database is asked which
// gateway runs which bot once per Refresh, not once per request (it was asked per v11 request,
// and per v12 request for a bot not run here).
func TestProxyReadsTheOwnersOncePerRefresh(t *testing.T) {
	var reads atomic.Int64
	p := testProxy("http://127.0.0.1:1", &fakeBudget{room: 1 << 20}, &reads)
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := fmt.Sprintf("/onebot/v11/%d/get_login_info", 1000+i), "{}"
			if i%2 == 1 {
				path, body = "/onebot/v12/", fmt.Sprintf(`{"action": "x", "self": {"user_id": "@guess%d:x"}}`, i)
			}
			if got := serve(h, http.MethodPost, path, body, false).Body.String(); got != "local" {
				t.Errorf("%s: answered by %q, want here", path, got)
			}
		}()
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Fatalf("200 requests for unknown bots read the owners %d times, want once", n)
	}
	p.Refresh = time.Nanosecond
	serve(h, http.MethodPost, "/onebot/v11/1/get_login_info", "{}", false)
	if n := reads.Load(); n != 2 {
		t.Fatalf("once Refresh passed, the owners were read %d times in all, want 2", n)
	}
}

// No request waits for a database that does not answer which gateway runs which bot (the first
// map held a request up to 5 s, and so did each stale one, for the request that read it again):
// before the first map is known, a request for a bot not run here is answered 503 with
// Retry-After, one for a bot run here is served; with a stale map, requests go on with it once
// the read takes longer than a moment; get_status's matrix.elsewhere never waits for a read.
func TestProxyNeverWaitsForTheOwners(t *testing.T) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "owner") }))
	defer owner.Close()
	var reads atomic.Int64
	p := newTestProxy(owner.URL, &fakeBudget{room: 1 << 20}, &reads)
	var gate atomic.Pointer[chan struct{}] // while set, a read of the owners waits for it to close
	var gates []func()                     // close each gate once, also when the test fails
	defer func() {
		for _, release := range gates {
			release()
		}
	}()
	newGate := func() func() {
		ch := make(chan struct{})
		release := sync.OnceFunc(func() { close(ch) })
		gates = append(gates, release)
		gate.Store(&ch)
		return release
	}
	releaseFirst := newGate()
	owners := p.Owners
	p.Owners = func(ctx context.Context) (map[string]string, error) {
		if g := gate.Load(); g != nil {
			<-*g // not ctx: a database that does not answer at all
		}
		return owners(ctx)
	}
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	there := `{"action": "get_self_info", "self": {"user_id": "@there:x"}}`
	// answer serves one request, failing the test if the request waits for the owners.
	answer := func(method, path, body string) *httptest.ResponseRecorder {
		t.Helper()
		done := make(chan *httptest.ResponseRecorder, 1)
		go func() { done <- serve(h, method, path, body, false) }()
		select {
		case rec := <-done:
			return rec
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s waited for the owners to be read", method, path)
			return nil
		}
	}
	for _, c := range []struct{ path, body string }{{"/onebot/v12/", there}, {"/onebot/v11/7/get_login_info", "{}"}} {
		rec := answer(http.MethodPost, c.path, c.body)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "still reading") {
			t.Errorf("%s before the first map: %d %q (Retry-After %q); want 503 saying so, with Retry-After", c.path, rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
		}
	}
	if rec := answer(http.MethodPost, "/onebot/v12/", strings.Replace(there, "@there:x", "@here:x", 1)); rec.Body.String() != "local" {
		t.Errorf("a bot run here before the first map: %d %q; want it served here", rec.Code, rec.Body.String())
	}
	gate.Store(nil)
	releaseFirst()
	wait.For(t, 10*time.Second, "the first map", func() bool { _, ok := p.Elsewhere(); return ok })
	if rec := answer(http.MethodPost, "/onebot/v12/", there); rec.Body.String() != "owner" {
		t.Fatalf("with the map: %d %q; want the owner", rec.Code, rec.Body.String())
	}
	// The map is stale and the database does not answer: requests go on with the last map (the
	// one that found it stale waited for the whole read), and so does matrix.elsewhere.
	newGate()
	p.Refresh = time.Nanosecond
	for range 3 {
		if rec := answer(http.MethodPost, "/onebot/v11/7/get_login_info", "{}"); rec.Body.String() != "owner" {
			t.Fatalf("while the owners are read again: %d %q; want the owner, from the last map", rec.Code, rec.Body.String())
		}
	}
	got := make(chan []string, 1)
	go func() { bots, _ := p.Elsewhere(); got <- bots }()
	select {
	case bots := <-got:
		if len(bots) != 1 || bots[0] != "@there:x" {
			t.Errorf("Elsewhere while the owners are read again = %v; want the last map's [@there:x]", bots)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Elsewhere waited for the owners to be read")
	}
}

// get_status's matrix.elsewhere comes from the proxy's map, read at most once per Refresh
// however often a client asks (it was a query of the owners table per get_status).
func TestProxyElsewhereReadsTheCachedOwners(t *testing.T) {
	var reads atomic.Int64
	p := testProxy("http://127.0.0.1:1", &fakeBudget{room: 1 << 20}, &reads)
	for range 200 {
		if bots, ok := p.Elsewhere(); !ok || len(bots) != 1 || bots[0] != "@there:x" {
			t.Fatalf("Elsewhere = %v, %v; want [@there:x]", bots, ok)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("200 calls read the owners %d times, want once", n)
	}
}

// A v12 body the proxy read to find its bot and then serves here is counted once against the
// budget of request bytes: the proxy gives its part back before the hub reads (and counts) the
// body again. It was counted twice while the hub handled it: with a budget of one action, the
// hub found it full.
func TestProxyCountsABodyServedHereOnce(t *testing.T) {
	var reads atomic.Int64
	budget := &fakeBudget{room: 4096}
	p := testProxy("http://127.0.0.1:1", budget, &reads)
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, release, err := budget.ReadBody(r.Context(), r.Body, p.MaxBody) // as the hub does
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer release()
		_, _ = w.Write(body)
	}))
	action := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "@here:x"}}`
	for _, body := range []string{action, strings.Replace(action, "@here:x", "@nobody:x", 1), "not json"} {
		if rec := serve(h, http.MethodPost, "/onebot/v12/", body, false); rec.Code != http.StatusOK || rec.Body.String() != body {
			t.Errorf("%q served here: %d %q; want it whole, within a budget of one action", body, rec.Code, rec.Body.String())
		}
	}
	if held := budget.holding(); held != 0 {
		t.Fatalf("the budget still holds %d bytes", held)
	}
}

// The v12 body read to find its bot counts against the process's budget of request bytes
// (GATEWAY_MAX_BYTES_IN_FLIGHT) with the action size limit, and is held until the request is
// done; a full budget is 503 with Retry-After, the owner not asked. It used to be up to 1 MiB
// per request outside any budget.
func TestProxyReadsBodiesWithinTheBudget(t *testing.T) {
	arrived, finish := make(chan struct{}), make(chan struct{})
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		arrived <- struct{}{}
		<-finish
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner.Close()
	var reads atomic.Int64
	budget := &fakeBudget{room: 4096}
	p := testProxy(owner.URL, budget, &reads)
	var localBody string
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		localBody = string(b)
		_, _ = io.WriteString(w, "local")
	}))
	action := `{"action": "get_self_info", "params": {}, "self": {"platform": "matrix", "user_id": "@there:x"}}`
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(h, http.MethodPost, "/onebot/v12/", action, false) }()
	<-arrived
	if held, limit := budget.holding(), budget.lastLimit; held != 4096 || limit != p.MaxBody {
		t.Errorf("while the owner answers, the budget holds %d bytes (read with limit %d), want %d", held, limit, p.MaxBody)
	}
	// The budget is full: the next request is refused before the owner hears of it.
	rec := serve(h, http.MethodPost, "/onebot/v12/", action, false)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "GATEWAY_MAX_BYTES_IN_FLIGHT") {
		t.Errorf("with the budget full: %d %q (Retry-After %q), want 503 naming GATEWAY_MAX_BYTES_IN_FLIGHT", rec.Code, rec.Body.String(), rec.Header().Get("Retry-After"))
	}
	close(finish)
	if rec := <-done; rec.Body.String() != "owner" {
		t.Fatalf("answered by %q, want the owner", rec.Body.String())
	}
	if held := budget.holding(); held != 0 {
		t.Fatalf("the budget still holds %d bytes after the request", held)
	}

	// A body over MaxBody (an upload) is not read further: one that names its bot first goes to
	// the owner, whole; one that names it after the file is served here, whole.
	file := strings.Repeat("A", 3*4096)
	first := `{"action": "upload_file", "self": {"user_id": "@there:x"}, "params": {"type": "data", "data": "` + file + `"}}`
	after := `{"action": "upload_file", "params": {"type": "data", "data": "` + file + `"}, "self": {"user_id": "@there:x"}}`
	var ownerBody string
	owner2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ownerBody = string(b)
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner2.Close()
	p2 := testProxy(owner2.URL, &fakeBudget{room: 4096}, &reads)
	h2 := p2.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		localBody = string(b)
		_, _ = io.WriteString(w, "local")
	}))
	if got := serve(h2, http.MethodPost, "/onebot/v12/", first, false).Body.String(); got != "owner" || ownerBody != first {
		t.Errorf("an upload naming its bot first: answered by %q, the owner got %d of %d bytes", got, len(ownerBody), len(first))
	}
	if got := serve(h2, http.MethodPost, "/onebot/v12/", after, false).Body.String(); got != "local" || localBody != after {
		t.Errorf("an upload naming its bot after the file: answered by %q, here got %d of %d bytes", got, len(localBody), len(after))
	}
}

// Whatever body a client sends, finding the bot it names never fails and leaves the body whole
// for the handler.
func FuzzProxyBotOf(f *testing.F) {
	f.Add([]byte(`{"action": "x", "self": {"platform": "matrix", "user_id": "@a:b"}}`))
	f.Add([]byte(`{"self": 5}`))
	f.Add([]byte("\x00\xff"))
	f.Add([]byte(`{"params": {"data": "` + strings.Repeat("x", 80) + `"}, "self": {"user_id": "@a:b"}}`))
	var reads atomic.Int64
	p := testProxy("http://127.0.0.1:1", &fakeBudget{room: 1 << 20}, &reads)
	p.MaxBody = 64
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/onebot/v12/", bytes.NewReader(body))
		_, release, err := p.botOf(req)
		if err != nil {
			t.Fatalf("botOf: %v", err)
		}
		rest, _ := io.ReadAll(req.Body)
		if release != nil {
			release()
		}
		if !bytes.Equal(rest, body) {
			t.Fatalf("the body changed: %q → %q", body, rest)
		}
	})
}

// The owner judges a proxied request as if the client had come to it: the Host the client sent
// reaches the owner (its guard refuses names that are not the gateway's when no access token is
// set — DNS rebinding — and compares Origin with it), not the owner's own address, which the
// owner would always take for one of its names.
func TestProxyKeepsTheClientsHost(t *testing.T) {
	var gotHost, gotOrigin string
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotOrigin = r.Host, r.Header.Get("Origin")
		_, _ = io.WriteString(w, "owner")
	}))
	defer owner.Close()
	var reads atomic.Int64
	p := testProxy(owner.URL, &fakeBudget{room: 1 << 20}, &reads)
	h := p.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "local") }))
	req := httptest.NewRequest(http.MethodGet, "http://rebound.evil.example/onebot/v11/7/get_login_info", nil)
	req.Header.Set("Origin", "http://rebound.evil.example")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Body.String() != "owner" {
		t.Fatalf("answered by %q, want the owner", rec.Body.String())
	}
	if gotHost != "rebound.evil.example" || gotOrigin != "http://rebound.evil.example" {
		t.Fatalf("the owner saw Host %q and Origin %q, want the client's rebound.evil.example", gotHost, gotOrigin)
	}
}

// A v12 forward WebSocket whose access token is the own token of a bot another gateway runs is a
// connection to that bot: it goes to the owner (the upgrade passes through, frames flow both
// ways). With a token that is not a bot's own (the gateway's, every bot), a local bot's, none,
// or once already sent on, it is served here.
func TestProxySendsBotScopedV12WebSocketsToTheOwner(t *testing.T) {
	echo := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			_ = c.Write(r.Context(), websocket.MessageText, []byte(name+" "+r.Header.Get(proxiedHeader)))
			_, b, err := c.Read(r.Context())
			if err == nil {
				_ = c.Write(r.Context(), websocket.MessageText, append([]byte(name+" got "), b...))
			}
		})
	}
	owner := httptest.NewServer(echo("owner"))
	defer owner.Close()
	var reads atomic.Int64
	p := testProxy(owner.URL, &fakeBudget{room: 1 << 20}, &reads)
	p.TokenBot = func(tok string) string {
		return map[string]string{"there-token": "@there:x", "here-token": "@here:x"}[tok]
	}
	front := httptest.NewServer(p.Wrap(echo("local")))
	defer front.Close()
	dial := func(query string, header http.Header) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/onebot/v12/"+query, &websocket.DialOptions{HTTPHeader: header})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		_, first, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		_, second, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return []string{string(first), string(second)}
	}
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	marked := "owner " + web.ProxyMark(testKey, "127.0.0.1")
	if got := dial("", bearer("there-token")); got[0] != marked || got[1] != "owner got ping" {
		t.Fatalf("a WebSocket with @there:x's own token: %q; want the owner's, marked as sent on", got)
	}
	if got := dial("?access_token=there-token", nil); got[0] != marked {
		t.Fatalf("the token in the query: %q; want the owner", got)
	}
	for name, h := range map[string]http.Header{
		"the gateway's token": bearer("tok"), "a local bot's token": bearer("here-token"), "no token": nil,
		"sent on already": {"Authorization": {"Bearer there-token"}, proxiedHeader: {"1"}},
	} {
		if got := dial("", h); !strings.HasPrefix(got[0], "local") || got[1] != "local got ping" {
			t.Errorf("%s: %q; want it served here", name, got)
		}
	}
}

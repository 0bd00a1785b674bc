package fleet

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/test/wait"
)

// However many start at once, no more than the gate's size hold a slot at the same time.
func TestGateBoundsConcurrentHolders(t *testing.T) {
	const n, starts = 3, 50
	g := NewGate(n, time.Millisecond, 0)
	var holding, most atomic.Int64
	var wg sync.WaitGroup
	for range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := g.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			now := holding.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			for range 100 { // hold the slot a while, so that holders overlap
				runtime.Gosched()
			}
			holding.Add(-1)
			release()
			release() // twice is harmless
		}()
	}
	wg.Wait()
	if m := most.Load(); m > n || m < 1 {
		t.Fatalf("%d held a slot at once, want 1 to %d", m, n)
	}
	if len(g.slots) != 0 {
		t.Fatalf("%d slots still taken after every release", len(g.slots))
	}
}

// A start that never releases its slot gives it up after maxHold; one waiting for a slot
// returns when its context ends.
func TestGateMaxHoldAndCancel(t *testing.T) {
	g := NewGate(1, 0, 50*time.Millisecond)
	if _, err := g.Acquire(context.Background()); err != nil { // never released
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with an ended context = %v, want context.Canceled", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := g.Acquire(context.Background())
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the slot held past maxHold was never given back")
	}

	held := NewGate(1, 0, 0)
	if _, err := held.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() {
		_, err := held.Acquire(ctx)
		waited <- err
	}()
	cancel()
	wait.For(t, 10*time.Second, "the waiting Acquire to return", func() bool { return len(waited) == 1 })
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire = %v, want context.Canceled", err)
	}
}

// Bots of one homeserver share its transport; another homeserver has its own; MATRIX_PROXY
// applies to them.
func TestTransportsOnePerHomeserver(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.example:3128")
	tr := NewTransports(proxy)
	a, b := tr.For("https://matrix.example.org"), tr.For("https://Matrix.example.org/")
	if a != b {
		t.Fatal("two bots of one homeserver got two transports")
	}
	if c := tr.For("https://other.example"); c == a {
		t.Fatal("two homeservers share one transport")
	}
	if tr.Len() != 2 {
		t.Fatalf("Len = %d, want 2", tr.Len())
	}
	req, _ := http.NewRequest(http.MethodGet, "https://matrix.example.org/_matrix/client/versions", nil)
	if u, err := a.Proxy(req); err != nil || u == nil || u.Host != "proxy.example:3128" {
		t.Fatalf("proxy = %v, %v; want proxy.example:3128", u, err)
	}
	if a.MaxIdleConnsPerHost < 1000 {
		t.Fatalf("MaxIdleConnsPerHost = %d: the bots' long polls would close their connections", a.MaxIdleConnsPerHost)
	}
}

// The gate's metrics show a start waiting for a slot while it waits, and count every wait once
// it ends (onebot_gateway_start_gate_waiting, onebot_gateway_start_gate_wait_seconds).
func TestGateMetrics(t *testing.T) {
	m := metrics.New()
	g := NewGate(1, 0, 0)
	g.Metrics = m.Fleet()
	release, err := g.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := g.Acquire(context.Background())
		if err == nil {
			r()
		}
		got <- err
	}()
	wait.For(t, 10*time.Second, "the second start to wait", func() bool { return m.Value("start_gate_waiting") == 1 })
	release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if waits, waiting := m.Value("start_gate_wait_seconds"), m.Value("start_gate_waiting"); waits != 2 || waiting != 0 {
		t.Fatalf("start_gate_wait_seconds counts %v waits, start_gate_waiting %v; want 2 and 0", waits, waiting)
	}
}

package fakes

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// FakeFaultProxy forwards every request to a real homeserver, except that requests whose path
// ends with a switched-on suffix get a canned error instead (e.g. 503 for "/refresh"). It
// counts, per suffix it was asked about, the requests it forwarded and those it failed. It is
// the only thing between the gateway and the homeserver; it changes nothing else.
type FakeFaultProxy struct {
	Server *httptest.Server
	URL    string

	mu        sync.Mutex
	faults    map[string]int // path suffix → status to answer
	forwarded map[string]int
	failed    map[string]int
	changed   chan struct{}
}

// NewFakeFaultProxy starts a proxy in front of target (a homeserver base URL); it is closed in
// t.Cleanup.
func NewFakeFaultProxy(t testing.TB, target string) *FakeFaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("bad target %q: %v", target, err)
	}
	p := &FakeFaultProxy{
		faults: map[string]int{}, forwarded: map[string]int{}, failed: map[string]int{}, changed: make(chan struct{}),
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status, ok := p.fault(r.URL.Path); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"injected by FakeFaultProxy"}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.Server.URL
	t.Cleanup(p.Server.Close)
	return p
}

// fault records a request and reports the status to fail it with, if its path is switched on.
func (p *FakeFaultProxy) fault(path string) (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() {
		close(p.changed)
		p.changed = make(chan struct{})
	}()
	for suffix, status := range p.faults {
		if strings.HasSuffix(path, suffix) {
			p.failed[suffix]++
			return status, true
		}
	}
	for suffix := range p.forwarded {
		if strings.HasSuffix(path, suffix) {
			p.forwarded[suffix]++
		}
	}
	return 0, false
}

// Watch starts counting forwarded requests whose path ends with suffix.
func (p *FakeFaultProxy) Watch(suffix string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.forwarded[suffix]; !ok {
		p.forwarded[suffix] = 0
	}
}

// Fail answers status to every request whose path ends with suffix, until Pass.
func (p *FakeFaultProxy) Fail(suffix string, status int) {
	p.Watch(suffix)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[suffix] = status
}

// Pass forwards requests ending with suffix again.
func (p *FakeFaultProxy) Pass(suffix string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.faults, suffix)
}

// Counts returns how many requests ending with suffix were forwarded and failed.
func (p *FakeFaultProxy) Counts(suffix string) (forwarded, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.forwarded[suffix], p.failed[suffix]
}

// Changed returns a channel closed at the next request.
func (p *FakeFaultProxy) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

package fakes

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeSyncRecorder is a thin recording proxy between gateway instances and a real homeserver:
// each instance gets its own proxy URL (Proxy) as its homeserver, and the recorder keeps, per
// access token, the intervals during which a /sync request of that token was in flight through
// each proxy. It forwards every request unchanged; it only watches.
//
// This lets a test check from the homeserver's side that no bot ever syncs from two instances at
// once: Overlaps compares the intervals of different instances.
type FakeSyncRecorder struct {
	target *url.URL

	mu    sync.Mutex
	syncs []SyncInterval
}

// SyncInterval is one /sync request as the recorder saw it. End is zero while it is in flight.
type SyncInterval struct {
	Instance string
	Token    string
	Start    time.Time
	End      time.Time
}

// NewFakeSyncRecorder records /sync requests forwarded to target (a homeserver base URL).
func NewFakeSyncRecorder(t testing.TB, target string) *FakeSyncRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("bad target %q: %v", target, err)
	}
	return &FakeSyncRecorder{target: u}
}

// Proxy starts a proxy for one instance, named instance in the records, and returns its URL; it
// is closed in t.Cleanup.
func (r *FakeSyncRecorder) Proxy(t testing.TB, instance string) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(r.target)
	rp.FlushInterval = -1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.HasSuffix(req.URL.Path, "/sync") {
			rp.ServeHTTP(w, req)
			return
		}
		i := r.begin(instance, bearer(req))
		defer r.end(i)
		// The request's context ends when the instance's connection does (a killed process):
		// the interval ends then, as the homeserver's view of the request does.
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func bearer(req *http.Request) string {
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
		return tok
	}
	return req.URL.Query().Get("access_token")
}

func (r *FakeSyncRecorder) begin(instance, token string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs = append(r.syncs, SyncInterval{Instance: instance, Token: token, Start: time.Now()})
	return len(r.syncs) - 1
}

func (r *FakeSyncRecorder) end(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs[i].End = time.Now()
}

// Record adds an interval as if a proxy had seen it (for the recorder's own tests).
func (r *FakeSyncRecorder) Record(s SyncInterval) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs = append(r.syncs, s)
}

// Syncs returns a copy of the intervals recorded so far; those still in flight have a zero End.
func (r *FakeSyncRecorder) Syncs() []SyncInterval {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.syncs)
}

// Overlaps describes every pair of /sync requests of the same token, through different
// instances, that were in flight at the same time (a request still in flight counts as running
// until now).
func (r *FakeSyncRecorder) Overlaps() []string {
	now := time.Now()
	byToken := map[string][]SyncInterval{}
	for _, s := range r.Syncs() {
		if s.End.IsZero() {
			s.End = now
		}
		byToken[s.Token] = append(byToken[s.Token], s)
	}
	var out []string
	for _, list := range byToken {
		slices.SortFunc(list, func(a, b SyncInterval) int { return a.Start.Compare(b.Start) })
		for i, a := range list {
			for _, b := range list[i+1:] {
				if !b.Start.Before(a.End) {
					break // sorted by start: no later one overlaps a
				}
				if b.Instance != a.Instance {
					out = append(out, fmt.Sprintf("token …%s: /sync via %s [%s, %s] and via %s [%s, %s]",
						tail(a.Token), a.Instance, a.Start.Format(time.StampMilli), a.End.Format(time.StampMilli),
						b.Instance, b.Start.Format(time.StampMilli), b.End.Format(time.StampMilli)))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// SyncedSince reports whether token had a /sync start at or after since through one of the
// instances given.
func (r *FakeSyncRecorder) SyncedSince(token string, since time.Time, instances ...string) bool {
	for _, s := range r.Syncs() {
		if s.Token == token && !s.Start.Before(since) && slices.Contains(instances, s.Instance) {
			return true
		}
	}
	return false
}

// Instances returns the instances through which token ever synced.
func (r *FakeSyncRecorder) Instances(token string) []string {
	var out []string
	for _, s := range r.Syncs() {
		if s.Token == token && !slices.Contains(out, s.Instance) {
			out = append(out, s.Instance)
		}
	}
	return out
}

func tail(s string) string {
	return s[max(0, len(s)-6):]
}

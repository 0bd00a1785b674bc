package fakes

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/wait"
)

// The recorder reports two instances' /sync of one token in flight at once, and nothing else:
// not one instance's own back-to-back syncs, not another token's, not a sync that began when the
// other ended.
func TestSyncRecorderOverlaps(t *testing.T) {
	r := NewFakeSyncRecorder(t, "http://127.0.0.1:1")
	t0 := time.Now().Add(-time.Hour)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	r.Record(SyncInterval{Instance: "a", Token: "bot1", Start: at(0), End: at(10)})
	r.Record(SyncInterval{Instance: "a", Token: "bot1", Start: at(5), End: at(12)})  // same instance
	r.Record(SyncInterval{Instance: "b", Token: "bot2", Start: at(1), End: at(11)})  // other token
	r.Record(SyncInterval{Instance: "b", Token: "bot1", Start: at(12), End: at(20)}) // after a
	if got := r.Overlaps(); len(got) != 0 {
		t.Fatalf("overlaps reported where there are none: %v", got)
	}
	r.Record(SyncInterval{Instance: "c", Token: "bot1", Start: at(19), End: at(25)})
	if got := r.Overlaps(); len(got) != 1 {
		t.Fatalf("want the one overlap of b and c, got %v", got)
	}
	r.Record(SyncInterval{Instance: "a", Token: "bot2", Start: at(30)}) // still in flight
	r.Record(SyncInterval{Instance: "b", Token: "bot2", Start: at(40), End: at(41)})
	if got := r.Overlaps(); len(got) != 2 {
		t.Fatalf("an in-flight sync runs until now: want 2 overlaps, got %v", got)
	}
	if !r.SyncedSince("bot1", at(19), "c") || r.SyncedSince("bot1", at(20), "a", "b", "c") {
		t.Fatal("SyncedSince wrong")
	}
}

// Through the proxies, a /sync's interval spans the request as the upstream served it, keyed by
// the bearer token and the proxy's instance; other paths are forwarded but not recorded.
func TestSyncRecorderProxy(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_matrix/client/v3/sync" {
			<-release
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer upstream.Close()
	r := NewFakeSyncRecorder(t, upstream.URL)
	a, b := r.Proxy(t, "a"), r.Proxy(t, "b")
	get := func(base, path string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	get(a, "/_matrix/client/v3/account/whoami")
	done := make(chan struct{})
	go func() { get(a, "/_matrix/client/v3/sync"); close(done) }()
	wait.For(t, 10*time.Second, "the sync at the recorder", func() bool { return len(r.Syncs()) == 1 })
	close(release)
	<-done
	// The interval ends when the proxy's handler returns, which can be just after the client has
	// the whole answer.
	wait.For(t, 10*time.Second, "the end of a's sync at the recorder", func() bool { return !r.Syncs()[0].End.IsZero() })
	get(b, "/_matrix/client/v3/sync")
	syncs := r.Syncs()
	if len(syncs) != 2 || syncs[0].Instance != "a" || syncs[1].Instance != "b" || syncs[0].Token != "tok" || syncs[0].End.IsZero() {
		t.Fatalf("recorded %+v", syncs)
	}
	if got := r.Overlaps(); len(got) != 0 {
		t.Fatalf("sequential syncs reported as overlapping: %v", got)
	}
}

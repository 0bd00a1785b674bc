package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// logLine is one LogWarn call.
type logLine struct {
	msg  string
	args map[string]any
}

// The log of refused browser requests is bounded by rate: a page that makes up a reason per
// request (an Origin each) gets at most refusalLogLines lines a minute, the same reason is logged
// once a minute, and what was not logged is counted on the next line. A minute later refusals
// are logged again: the page cannot use the log up and hide later refusals.
func TestRefusalLogIsBoundedByRateNotBlind(t *testing.T) {
	var mu sync.Mutex
	var lines []logLine
	now := time.Unix(1_700_000_000, 0)
	g := &Guard{
		TokenSet: func() bool { return true },
		Refused:  func() {},
		LogWarn: func(msg string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			l := logLine{msg: msg, args: map[string]any{}}
			for i := 0; i+1 < len(args); i += 2 {
				l.args[args[i].(string)] = args[i+1]
			}
			lines = append(lines, l)
		},
		Now: func() time.Time { return now },
	}
	h := g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a cross-site request passed") }))
	refuse := func(origin string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/send_message", strings.NewReader("{}"))
		req.Header.Set("Origin", origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("Origin %s: %d, want 403", origin, rec.Code)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(lines) }

	const hostile = 150
	for i := range hostile {
		refuse(fmt.Sprintf("https://evil-%d.example", i))
	}
	if n := count(); n != refusalLogLines {
		t.Fatalf("%d made-up reasons in a minute logged %d lines, want %d", hostile, n, refusalLogLines)
	}
	for range 10 {
		refuse("https://evil-0.example")
	}
	if n := count(); n != refusalLogLines {
		t.Fatalf("a reason logged this minute was logged again: %d lines", n)
	}

	// A minute later a new refusal is logged, saying how many were not.
	now = now.Add(refusalLogWindow)
	refuse("https://later.example")
	if n := count(); n != refusalLogLines+1 {
		t.Fatalf("a refusal after the page used up a minute's lines was not logged (%d lines)", n)
	}
	last := lines[len(lines)-1]
	if !strings.Contains(fmt.Sprint(last.args["reason"]), "later.example") || last.args["not_logged"] != hostile-refusalLogLines+10 {
		t.Errorf("the line after the flood: %+v, want the new reason and not_logged=%d", last, hostile-refusalLogLines+10)
	}
	refuse("https://evil-0.example") // a reason of the last minute is logged again, with nothing skipped since
	if n := count(); n != refusalLogLines+2 || lines[n-1].args["not_logged"] != nil {
		t.Errorf("a reason of the minute before: %d lines, last %+v; want it logged again without not_logged", n, lines[n-1])
	}
	g.refusals.mu.Lock()
	kept := len(g.refusals.logged)
	g.refusals.mu.Unlock()
	if kept > refusalLogLines {
		t.Errorf("the refusal log keeps %d reasons, more than %d", kept, refusalLogLines)
	}
}

package web

import (
	"net/http"
	"sync"
	"time"
)

// The log of refused browser requests is bounded by rate, not by the reasons it has seen: a
// reason (which may quote the page's Origin, so a hostile page can make up as many as it likes)
// is logged at most once a refusalLogWindow, and at most refusalLogLines lines are logged a
// window in all. A refusal that is not logged is counted, and the next line logged says how many
// were not since the line before (not_logged). So a page can neither flood the log nor use it
// up: in the next window the next refusal is logged again.
const (
	refusalLogWindow = time.Minute
	refusalLogLines  = 20
)

// refusalLog decides which refusals are logged; its memory is at most refusalLogLines reasons.
type refusalLog struct {
	mu        sync.Mutex
	windowEnd time.Time
	logged    map[string]bool // reasons logged in this window
	notLogged int             // refusals not logged since the last line
}

// admit tells whether a refusal for reason at now is logged and, when it is, how many refusals
// were not logged since the last line.
func (l *refusalLog) admit(reason string, now time.Time) (ok bool, notLogged int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !now.Before(l.windowEnd) {
		l.windowEnd = now.Add(refusalLogWindow)
		clear(l.logged)
	}
	if l.logged[reason] || len(l.logged) >= refusalLogLines {
		l.notLogged++
		return false, 0
	}
	if l.logged == nil {
		l.logged = map[string]bool{}
	}
	l.logged[reason] = true
	notLogged, l.notLogged = l.notLogged, 0
	return true, notLogged
}

// warn logs a refusal when the rate allows (refusalLog), so that the operator learns why a web
// client fails, and a page cannot flood the log nor hide later refusals from it.
func (g *Guard) warn(msg string, r *http.Request) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	ok, notLogged := g.refusals.admit(msg, now())
	if !ok {
		return
	}
	args := []any{"reason", msg, "path", r.URL.Path, "peer", r.RemoteAddr}
	if notLogged > 0 {
		args = append(args, "not_logged", notLogged)
	}
	g.LogWarn("browser request refused", args...)
}

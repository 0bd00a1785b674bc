package calls

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/test/wait"
)

// Middleware runs outermost first, and one may answer without calling the rest.
func TestActionChainOrderAndEarlyStop(t *testing.T) {
	var trail []string
	step := func(name string, stop bool) actionMiddleware {
		return func(next actionFunc) actionFunc {
			return func(inv *invocation) (any, error) {
				trail = append(trail, name)
				if stop && inv.name == "refused" {
					return nil, errors.New("stopped by " + name)
				}
				return next(inv)
			}
		}
	}
	final := func(inv *invocation) (any, error) { trail = append(trail, "handler"); return "ok", nil }
	f := chain(final, step("a", false), step("b", true), step("c", false))
	if data, err := f(&invocation{name: "x"}); data != "ok" || err != nil || !reflect.DeepEqual(trail, []string{"a", "b", "c", "handler"}) {
		t.Fatalf("got %v, %v through %v", data, err, trail)
	}
	trail = nil
	if _, err := f(&invocation{name: "refused"}); err == nil || !reflect.DeepEqual(trail, []string{"a", "b"}) {
		t.Fatalf("early stop: %v through %v", err, trail)
	}
}

// A concern that every action needs is one middleware: it sees the calls of every transport,
// and a v11 _async call once, by its base name, when it runs in the background.
func TestActionMiddlewareSeesEveryCall(t *testing.T) {
	hub := newFakeHub()
	r := New(hub)
	var mu sync.Mutex
	var seen []string
	record := func(next actionFunc) actionFunc {
		return func(inv *invocation) (any, error) {
			mu.Lock()
			seen = append(seen, inv.name)
			mu.Unlock()
			return next(inv)
		}
	}
	r.actions = chain(r.dispatch, record, r.observe, r.recoverPanic, r.logFailure)
	r.v11Actions = chain(r.actions, r.suffixes)

	if resp := r.RunV12(context.Background(), nil, &ob12.Request{Action: "get_version"}); resp.Retcode != 0 {
		t.Fatalf("get_version: %+v", resp)
	}
	if resp := r.RunV11(context.Background(), hub.bot, &ob11.Request{Action: "get_status_async"}); resp.Status != "async" {
		t.Fatalf("get_status_async: %+v", resp)
	}
	wait.For(t, 10*time.Second, "the background call", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 2
	})
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(seen, []string{"get_version", "get_status"}) {
		t.Fatalf("the middleware saw %v", seen)
	}
}

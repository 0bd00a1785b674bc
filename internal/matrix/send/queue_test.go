package send

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/wait"
)

// limited is the error mautrix returns for a 429 with retry_after_ms.
func limited(ms int) error {
	return mautrix.HTTPError{
		Response:  &http.Response{StatusCode: http.StatusTooManyRequests},
		RespError: &mautrix.RespError{ErrCode: "M_LIMIT_EXCEEDED", Err: "Too Many Requests", StatusCode: 429, ExtraData: map[string]any{"retry_after_ms": float64(ms)}},
	}
}

// fakeLimitedServer accepts one request in every `every`, answering the others 429; it records
// the accepted payloads in order. It stands for a rate-limited homeserver in unit tests.
type fakeLimitedServer struct {
	mu       sync.Mutex
	every    int
	n        int
	accepted []int
	limited  int
}

func (f *fakeLimitedServer) send(v int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.n%f.every != 0 {
		f.limited++
		return limited(1)
	}
	f.accepted = append(f.accepted, v)
	return nil
}

// Jobs queued for one room leave in the order they were queued, each exactly once, although
// the homeserver refuses most attempts with 429; the gate is shared by all rooms of the bot.
func TestSendQueueKeepsOrderThrough429(t *testing.T) {
	srv := &fakeLimitedServer{every: 3}
	var waits sync.Map
	q := newSendQueue(time.Millisecond, func(d time.Duration) { waits.Store(d, true) })
	const n = 50
	var done []<-chan error
	for i := range n {
		room := id.RoomID("!room:example.org")
		if i%10 == 9 {
			room = "!other:example.org" // another room shares the gate but not the order
		}
		c, err := q.submit(context.Background(), room, func(context.Context) error { return srv.send(i) })
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, c)
	}
	for i, c := range done {
		if err := <-c; err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	var inRoom []int
	for _, v := range srv.accepted {
		if v%10 != 9 {
			inRoom = append(inRoom, v)
		}
	}
	for i := 1; i < len(inRoom); i++ {
		if inRoom[i] < inRoom[i-1] {
			t.Fatalf("accepted out of order in one room: %v", inRoom)
		}
	}
	if len(srv.accepted) != n {
		t.Fatalf("accepted %d, want %d", len(srv.accepted), n)
	}
	if srv.limited == 0 {
		t.Fatal("the fake never answered 429: the test tested nothing")
	}
	if _, ok := waits.Load(time.Millisecond); !ok {
		t.Fatal("retry_after_ms was not honoured as the wait")
	}
}

// A refusal other than 429 is returned at once, not retried; a network failure is retried.
func TestSendQueueRefusalAndNetworkFailure(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	calls := 0
	forbidden := mautrix.HTTPError{
		Response:  &http.Response{StatusCode: http.StatusForbidden},
		RespError: &mautrix.RespError{ErrCode: "M_FORBIDDEN", Err: "nope", StatusCode: 403},
	}
	err := q.run(context.Background(), "!r:x", func(context.Context) error { calls++; return forbidden })
	if !errors.Is(err, mautrix.MForbidden) || calls != 1 {
		t.Fatalf("got %v after %d calls, want M_FORBIDDEN after 1", err, calls)
	}
	calls = 0
	err = q.run(context.Background(), "!r:x", func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("connection reset")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("got %v after %d calls, want success after 3", err, calls)
	}
}

// A caller whose context ends while the gate is closed gets a rate-limited error, and its job
// is never sent.
func TestSendQueueGivesUpWhenContextEnds(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	q.closeGate(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var sent atomic.Bool
	errc := make(chan error, 1)
	go func() { errc <- q.run(ctx, "!r:x", func(context.Context) error { sent.Store(true); return nil }) }()
	cancel()
	err := <-errc
	if model.KindOf(err) != model.ErrRateLimited {
		t.Fatalf("got %v, want a rate-limited error", err)
	}
	q.mu.Lock()
	q.notBefore = time.Time{}
	close(q.gateMoved)
	q.gateMoved = make(chan struct{})
	q.mu.Unlock()
	if err := q.run(context.Background(), "!r:x", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if sent.Load() {
		t.Fatal("a job whose caller gave up was sent")
	}
}

// Jobs queued while the caller of an idle room's queue sends its own request leave after it, in
// the order they were queued, each once; the queue is gone when all are done.
func TestSendQueueJobsBehindACallerSendingItself(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	room := id.RoomID("!r:x")
	var (
		mu    sync.Mutex
		order []int
	)
	record := func(v int) { mu.Lock(); order = append(order, v); mu.Unlock() }
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- q.run(context.Background(), room, func(context.Context) error {
			close(started)
			<-release
			record(0)
			return nil
		})
	}()
	<-started
	var done []<-chan error
	for i := 1; i <= 5; i++ {
		c, err := q.submit(context.Background(), room, func(context.Context) error { record(i); return nil })
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, c)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, c := range done {
		if err := <-c; err != nil {
			t.Fatalf("job %d: %v", i+1, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != "[0 1 2 3 4 5]" {
		t.Fatalf("sent in the order %v, want [0 1 2 3 4 5]", order)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.rooms) != 0 {
		t.Fatalf("%d room queues left after every job was done", len(q.rooms))
	}
}

// A send whose request panics on the caller's goroutine (the action chain recovers it) leaves
// the room's queue: the next send to the room goes out instead of waiting behind it.
func TestSendQueuePanickingSendLeavesTheQueue(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = q.run(context.Background(), "!r:x", func(context.Context) error { panic("bug") })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sent := false
	if err := q.run(ctx, "!r:x", func(context.Context) error { sent = true; return nil }); err != nil || !sent {
		t.Fatalf("the next send after a panicking one: %v (sent %v)", err, sent)
	}
}

// A send queued behind another that panics on the worker's goroutine does not end the process:
// the panic reaches its caller, on the caller's goroutine (where the action chain recovers it),
// and the room's queue goes on.
func TestSendQueueQueuedPanickingSendReachesItsCaller(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	room := id.RoomID("!r:x")
	started, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- q.run(context.Background(), room, func(context.Context) error { close(started); <-release; return nil })
	}()
	<-started
	caught := make(chan any, 1)
	go func() {
		defer func() { caught <- recover() }()
		_ = q.run(context.Background(), room, func(context.Context) error { panic("bug") })
	}()
	waitQueued(t, q, room, 2)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if p := <-caught; p == nil || !strings.Contains(fmt.Sprint(p), "bug") {
		t.Fatalf("the queued send's caller recovered %v, want its panic", p)
	}
	sent := false
	if err := q.run(context.Background(), room, func(context.Context) error { sent = true; return nil }); err != nil || !sent {
		t.Fatalf("the next send after a panicking one: %v (sent %v)", err, sent)
	}
}

// waitQueued waits until room's queue has n jobs.
func waitQueued(t *testing.T, q *sendQueue, room id.RoomID, n int) {
	t.Helper()
	wait.For(t, 10*time.Second, "the send to be queued", func() bool {
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.rooms[room] != nil && len(q.rooms[room].jobs) == n
	})
}

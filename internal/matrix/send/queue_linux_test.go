package send

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// A send to a room with nothing queued runs on the caller's goroutine, without a hand-off to a
// worker goroutine and back. The caller is locked to its OS thread, where no other goroutine
// can run: the request runs on that thread only when the caller runs it itself.
func TestSendQueueIdleRoomSendsOnCallersGoroutine(t *testing.T) {
	q := newSendQueue(time.Millisecond, nil)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	caller := syscall.Gettid()
	for i := range 3 {
		ran := 0
		if err := q.run(context.Background(), "!r:x", func(context.Context) error { ran = syscall.Gettid(); return nil }); err != nil {
			t.Fatal(err)
		}
		if ran != caller {
			t.Fatalf("send %d ran on thread %d, not on the caller's %d: it was handed to another goroutine", i, ran, caller)
		}
	}
}

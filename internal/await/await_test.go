package await

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A closed channel or a returned function is reported as ended; one that does not end by the
// deadline is reported as not ended (a deadline already passed: no waiting).
func TestClosedAndReturns(t *testing.T) {
	done := make(chan struct{})
	close(done)
	if !Closed(done, time.Now().Add(time.Minute)) {
		t.Error("Closed: a closed channel was not reported as closed")
	}
	if Closed(make(chan struct{}), time.Now().Add(-time.Second)) {
		t.Error("Closed: an open channel was reported as closed")
	}
	if !Returns(func() {}, time.Now().Add(time.Minute)) {
		t.Error("Returns: a function that returned was not reported as returned")
	}
	block := make(chan struct{})
	defer close(block)
	if Returns(func() { <-block }, time.Now().Add(-time.Second)) {
		t.Error("Returns: a blocked function was reported as returned")
	}
}

// Sleep returns nil once it has waited, and the context's error when the context ends first.
func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Nanosecond); err != nil {
		t.Errorf("Sleep(1ns) = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(1h) with an ended context = %v, want context.Canceled", err)
	}
}

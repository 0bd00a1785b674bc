package await

import (
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

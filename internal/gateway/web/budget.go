package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// Budget bounds the request bytes that the whole process holds at once: WebSocket messages
// and HTTP bodies being read, decoded and acted on. A request takes its bytes before it reads
// them; when the process is full it waits (the client is slowed down by TCP), and gives up
// after wait, so that requests half-read by many clients cannot block each other for ever.
type Budget struct {
	sem     *semaphore.Weighted
	max     int64
	wait    time.Duration
	held    atomic.Int64
	peak    atomic.Int64
	waiting atomic.Int64 // requests waiting for room
}

// NewBudget is a budget of max bytes whose takers wait at most wait for room.
func NewBudget(max int64, wait time.Duration) *Budget {
	return &Budget{sem: semaphore.NewWeighted(max), max: max, wait: wait}
}

// Acquire takes n bytes, waiting up to the budget's wait for room (then the error is
// context.DeadlineExceeded; Busy tells it apart).
func (f *Budget) Acquire(ctx context.Context, n int64) error {
	if !f.sem.TryAcquire(n) {
		f.waiting.Add(1)
		defer f.waiting.Add(-1)
		ctx, cancel := context.WithTimeout(ctx, f.wait)
		defer cancel()
		if err := f.sem.Acquire(ctx, n); err != nil {
			return err
		}
	}
	cur := f.held.Add(n)
	for p := f.peak.Load(); cur > p && !f.peak.CompareAndSwap(p, cur); p = f.peak.Load() {
	}
	return nil
}

// TryAcquire takes n bytes only if the process has them now.
func (f *Budget) TryAcquire(n int64) bool {
	if !f.sem.TryAcquire(n) {
		return false
	}
	cur := f.held.Add(n)
	for p := f.peak.Load(); cur > p && !f.peak.CompareAndSwap(p, cur); p = f.peak.Load() {
	}
	return true
}

// Release gives back n bytes (none for n <= 0).
func (f *Budget) Release(n int64) {
	if n > 0 {
		f.held.Add(-n)
		f.sem.Release(n)
	}
}

// Held is the bytes held now, Peak the most held at once, Waiting the takers waiting for room.
func (f *Budget) Held() int64    { return f.held.Load() }
func (f *Budget) Peak() int64    { return f.peak.Load() }
func (f *Budget) Waiting() int64 { return f.waiting.Load() }

// ErrBusy: the process held too many request bytes for too long.
var ErrBusy = errors.New("the gateway is holding too many request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT); try again later")

// FirstBuffer is the buffer a request body of size bytes (-1: not known) is read into with
// ReadUpTo, which grows it as the body goes on: its size and one byte more when that is known
// and within limit (the read ends without growing it), a few KiB when it is not known. Most
// action requests are a few hundred bytes, and the first buffer counts in the bytes in flight
// while the request runs; a body known to be over limit (an upload) starts at up to 64 KiB.
func FirstBuffer(size, limit int64) []byte {
	switch {
	case size >= 0 && size <= limit:
		return make([]byte, 0, size+1)
	case size > limit:
		return make([]byte, 0, min(limit+1, 64<<10))
	}
	return make([]byte, 0, min(limit+1, 4<<10))
}

// ReadUpTo appends r to buf until EOF or until buf holds more than limit bytes (one more is
// read to tell). buf grows by doubling, never past limit+1.
func ReadUpTo(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) > limit {
				return buf, nil
			}
			nb := make([]byte, len(buf), min(max(2*int64(cap(buf)), 512), limit+1))
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// Busy is the error of a failed Acquire: the context's own error when it ended, ErrBusy when
// the budget stayed full.
func Busy(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrBusy
	}
	return err
}

// PeekAction finds the top-level "action" of a JSON object from the start of it, skipping the
// members before it; ok is false when the prefix ends first.
func PeekAction(prefix []byte) (name string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		if key == "action" {
			t, err := dec.Token()
			s, isString := t.(string)
			return s, err == nil && isString
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// inflight bounds the request bytes that the whole process holds at once: WebSocket messages
// and HTTP bodies being read, decoded and acted on. A request takes its bytes before it reads
// them; when the process is full it waits (the client is slowed down by TCP), and gives up
// after wait, so that requests half-read by many clients cannot block each other for ever.
type inflight struct {
	sem     *semaphore.Weighted
	max     int64
	wait    time.Duration
	held    atomic.Int64
	peak    atomic.Int64
	waiting atomic.Int64 // requests waiting for room
}

func newInflight(max int64, wait time.Duration) *inflight {
	return &inflight{sem: semaphore.NewWeighted(max), max: max, wait: wait}
}

func (f *inflight) acquire(ctx context.Context, n int64) error {
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

// tryAcquire takes n bytes only if the process has them now.
func (f *inflight) tryAcquire(n int64) bool {
	if !f.sem.TryAcquire(n) {
		return false
	}
	cur := f.held.Add(n)
	for p := f.peak.Load(); cur > p && !f.peak.CompareAndSwap(p, cur); p = f.peak.Load() {
	}
	return true
}

func (f *inflight) release(n int64) {
	if n > 0 {
		f.held.Add(-n)
		f.sem.Release(n)
	}
}

// request is one action request held in memory, counted in flight until release.
type request struct {
	data []byte
	held int64
	f    *inflight
}

func (r *request) release() {
	r.f.release(r.held)
	r.held = 0
}

// errRequestTooLarge: a request over its limit.
type errRequestTooLarge struct {
	limit  int64
	action string // "" when the action is not known
}

func (e *errRequestTooLarge) Error() string {
	if e.action != "" {
		return fmt.Sprintf("a request of %s is limited to %d bytes (GATEWAY_MAX_ACTION_SIZE); only actions that carry a file may be larger", e.action, e.limit)
	}
	return fmt.Sprintf("the request is over %d bytes (the largest upload GATEWAY_MEDIA_MAX_SIZE allows)", e.limit)
}

// errBusy: the process held too many request bytes for too long.
var errBusy = errors.New("the gateway is holding too many request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT); try again later")

// fileActions may carry a file as base64 in their params, so their requests may be as large as
// an upload; every other action is limited to MaxActionSize.
var fileActions = map[int]map[string]bool{
	11: {"send_msg": true, "send_group_msg": true, "send_private_msg": true},
	12: {"send_message": true, "upload_file": true, "upload_file_fragmented": true},
}

// readRequest reads one action request from r into memory within the process's budget, in two
// steps so that requests half-read by many clients rarely wait on each other while holding bytes:
//
//  1. it takes MaxActionSize before reading (waiting, holding nothing, while the process is
//     full), which every request of an action without a file fits in;
//  2. a request that goes on is an upload: it takes the rest of MaxUploadSize at once, then reads
//     on. Only these wait while holding bytes; they are few (a full process admits no new
//     request while one waits), and a wait ends after the read timeout.
//
// What the request does not use is given back once it is read. action is the action when the
// transport names it (the v11 HTTP path); else it is read from the start of the request once
// that passes MaxActionSize, and from the whole request at the end (JSON keeps the last of
// duplicate keys).
func (wf webFront) readRequest(ctx context.Context, r io.Reader, version int, action string) (*request, error) {
	f, o := wf.h.inflight, wf.h.opts.Web
	small := o.MaxActionSize
	req := &request{f: f}
	if err := f.acquire(ctx, small); err != nil {
		return nil, busy(ctx, err)
	}
	req.held = small
	fail := func(err error) (*request, error) {
		req.release()
		return nil, err
	}
	buf, err := readUpTo(r, make([]byte, 0, min(small, 64<<10)), small)
	if err != nil {
		return fail(err)
	}
	if int64(len(buf)) > small {
		// Step 2: only an upload may be this large.
		if action != "" && !fileActions[version][action] {
			return fail(&errRequestTooLarge{limit: o.MaxActionSize, action: action})
		}
		if name, ok := peekAction(buf); action == "" && ok && !fileActions[version][name] {
			return fail(&errRequestTooLarge{limit: o.MaxActionSize, action: name})
		}
		if err := f.acquire(ctx, o.MaxUploadSize-small); err != nil {
			return fail(busy(ctx, err))
		}
		req.held = o.MaxUploadSize
		if buf, err = readUpTo(r, buf, o.MaxUploadSize); err != nil {
			return fail(err)
		}
		if int64(len(buf)) > o.MaxUploadSize {
			return fail(&errRequestTooLarge{limit: o.MaxUploadSize})
		}
		if !fileActions[version][action] { // not named by the transport
			var probe struct {
				Action string `json:"action"`
			}
			if json.Unmarshal(buf, &probe) == nil && !fileActions[version][probe.Action] {
				return fail(&errRequestTooLarge{limit: o.MaxActionSize, action: probe.Action})
			}
		}
	}
	// Keep what the request holds in memory; give back the rest.
	if keep := int64(cap(buf)); keep < req.held {
		f.release(req.held - keep)
		req.held = keep
	}
	req.data = buf
	return req, nil
}

// readUpTo appends r to buf until EOF or until buf holds more than limit bytes (one more is
// read to tell). buf grows by doubling, never past limit+1.
func readUpTo(r io.Reader, buf []byte, limit int64) ([]byte, error) {
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

func busy(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errBusy
	}
	return err
}

// peekAction finds the top-level "action" of a JSON object from the start of it, skipping the
// members before it; ok is false when the prefix ends first.
func peekAction(prefix []byte) (name string, ok bool) {
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

package send

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// sendQueue paces the events a bot sends. Each room has one FIFO queue served by one worker, so
// that events reach a room in the order they were asked for; all rooms of the bot share one
// gate, because the homeserver rate-limits the user and not the room. A 429 closes the gate
// for retry_after_ms and the same request (same transaction ID, so never twice) is tried again.
type sendQueue struct {
	maxQueued     int           // per room; more is refused as rate limited
	maxNetRetries int           // network failures retried before giving up
	retryInterval time.Duration // first backoff after a network failure

	mu        sync.Mutex
	rooms     map[id.RoomID]*roomQueue
	notBefore time.Time     // the gate: nothing is sent before this time
	gateMoved chan struct{} // closed and replaced when notBefore changes
	onLimited func(wait time.Duration)
}

type roomQueue struct {
	jobs []*sendJob
}

type sendJob struct {
	ctx  context.Context
	do   func(ctx context.Context) error
	done chan error
}

func newSendQueue(retryInterval time.Duration, onLimited func(time.Duration)) *sendQueue {
	if retryInterval <= 0 {
		retryInterval = time.Second
	}
	return &sendQueue{
		maxQueued: 10000, maxNetRetries: 3, retryInterval: retryInterval,
		rooms: map[id.RoomID]*roomQueue{}, gateMoved: make(chan struct{}), onLimited: onLimited,
	}
}

// run queues do behind everything already queued for room and waits for its result. When ctx
// ends first, the call returns at once and the request is not sent unless it already started.
//
// When the room's queue is empty, the caller sends its request itself, on its own goroutine:
// handing it to a worker and the result back costs two goroutine switches on every send of a
// room that is not busy, the usual case. Jobs queued behind it meanwhile get a worker when it is
// done, so the order holds.
func (q *sendQueue) run(ctx context.Context, room id.RoomID, do func(ctx context.Context) error) error {
	job, rq, first, err := q.enqueue(ctx, room, do)
	if err != nil {
		return err
	}
	if first {
		err = q.attemptThenFinish(room, rq, job)
		if err != nil && ctx.Err() != nil {
			return gaveUp(ctx)
		}
		return err
	}
	select {
	case err := <-job.done:
		if p, ok := err.(*sendPanic); ok {
			panic(p) // on the caller's goroutine, as a send it runs itself (the action chain recovers it)
		}
		return err
	case <-ctx.Done():
		return gaveUp(ctx)
	}
}

// gaveUp is the error of a caller whose ctx ended before its request was sent (or answered).
func gaveUp(ctx context.Context) error {
	return &model.ActionError{Kind: model.ErrRateLimited, Message: "gave up waiting in the send queue", Err: ctx.Err()}
}

// submit queues do behind everything already queued for room; the channel gets its result.
func (q *sendQueue) submit(ctx context.Context, room id.RoomID, do func(ctx context.Context) error) (<-chan error, error) {
	job, rq, first, err := q.enqueue(ctx, room, do)
	if err != nil {
		return nil, err
	}
	if first {
		go q.work(room, rq)
	}
	return job.done, nil
}

// enqueue appends a job for do to room's queue; first tells that the queue was empty, so that
// nothing serves it yet: the caller must (run or a worker).
func (q *sendQueue) enqueue(ctx context.Context, room id.RoomID, do func(ctx context.Context) error) (*sendJob, *roomQueue, bool, error) {
	job := &sendJob{ctx: ctx, do: do, done: make(chan error, 1)}
	q.mu.Lock()
	defer q.mu.Unlock()
	rq := q.rooms[room]
	if rq == nil {
		rq = &roomQueue{}
		q.rooms[room] = rq
	}
	if len(rq.jobs) >= q.maxQueued {
		return nil, nil, false, model.Errorf(model.ErrRateLimited, "the send queue of %s is full (%d waiting): slow down", room, q.maxQueued)
	}
	rq.jobs = append(rq.jobs, job)
	return job, rq, len(rq.jobs) == 1, nil
}

// work serves one room's queue until it is empty; it runs while the queue has jobs.
func (q *sendQueue) work(room id.RoomID, rq *roomQueue) {
	for {
		q.mu.Lock()
		job := rq.jobs[0]
		q.mu.Unlock()

		job.done <- q.attemptCaught(job)

		if !q.pop(room, rq) {
			return
		}
	}
}

// sendPanic is a panic of a send on a worker's goroutine, where it would end the process (every
// bot with it), caught and handed to the caller waiting in run, which panics with it. When that
// caller has given up, nobody sees it.
type sendPanic struct {
	value any
	stack []byte
}

func (p *sendPanic) Error() string {
	return fmt.Sprintf("a queued send panicked: %v\n%s", p.value, p.stack)
}

// attemptCaught is attempt on a worker's goroutine, its panic caught as a *sendPanic.
func (q *sendQueue) attemptCaught(job *sendJob) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &sendPanic{value: r, stack: debug.Stack()}
		}
	}()
	return q.attempt(job)
}

// attemptThenFinish is run's own attempt at its job, which then leaves the queue, even when it
// panics (the action chain recovers it): a job left at the head would hold the room's queue.
func (q *sendQueue) attemptThenFinish(room id.RoomID, rq *roomQueue, job *sendJob) error {
	defer q.finish(room, rq)
	return q.attempt(job)
}

// finish takes the job that run sent itself off room's queue and hands what is left to a worker.
func (q *sendQueue) finish(room id.RoomID, rq *roomQueue) {
	if q.pop(room, rq) {
		go q.work(room, rq)
	}
}

// pop removes the job at the head of room's queue, which has been served; it reports whether
// jobs are left (else the queue is gone).
func (q *sendQueue) pop(room id.RoomID, rq *roomQueue) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	rq.jobs = rq.jobs[1:]
	if len(rq.jobs) == 0 {
		delete(q.rooms, room)
		return false
	}
	return true
}

// attempt sends one job, waiting at the gate and retrying 429s and network failures.
func (q *sendQueue) attempt(job *sendJob) error {
	retry := backoff.New(q.retryInterval, account.MaxBackoff)
	netFailures := 0
	for {
		if err := job.ctx.Err(); err != nil {
			return err
		}
		if !q.waitGate(job.ctx) {
			return job.ctx.Err()
		}
		err := job.do(job.ctx)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, mautrix.MLimitExceeded):
			q.closeGate(account.RetryAfter(err))
		case isNetworkError(err) && job.ctx.Err() == nil && netFailures < q.maxNetRetries:
			netFailures++
			if !account.Sleep(job.ctx, retry.Next()) {
				return job.ctx.Err()
			}
		default:
			return err
		}
	}
}

// isNetworkError tells failures without an answer from the homeserver (or with a 5xx) apart
// from refusals, which retrying does not fix.
func isNetworkError(err error) bool {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.Response != nil {
		return httpErr.Response.StatusCode >= 500
	}
	var ae *model.ActionError
	if errors.As(err, &ae) { // the gateway's own refusals (e.g. an encrypted room it cannot encrypt for)
		return ae.Kind == model.ErrNetwork
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func (q *sendQueue) closeGate(wait time.Duration) {
	q.mu.Lock()
	if until := time.Now().Add(wait); until.After(q.notBefore) {
		q.notBefore = until
		close(q.gateMoved)
		q.gateMoved = make(chan struct{})
	}
	q.mu.Unlock()
	if q.onLimited != nil {
		q.onLimited(wait)
	}
}

// waitGate waits until the gate is open; it reports false when ctx ends first.
func (q *sendQueue) waitGate(ctx context.Context) bool {
	for {
		q.mu.Lock()
		wait := time.Until(q.notBefore)
		moved := q.gateMoved
		q.mu.Unlock()
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-moved:
			t.Stop()
		case <-t.C:
		}
	}
}

package auth

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/backoff"
)

// health is the failure state of a bot's session (see the package doc): when the next attempt
// to obtain a token may be made, the last failure, the consecutive refusals, and whether the bot
// is offline and why. It calls OnOffline and OnOnline when that changes.
type health struct {
	now           func() time.Time
	retryInterval time.Duration
	log           *slog.Logger
	onOffline     func(reason string)
	onOnline      func()

	mu        sync.Mutex
	retryAt   time.Time // no new attempt before this (after a failure)
	lastErr   error
	transient *backoff.Backoff
	slow      *backoff.Backoff
	refusals  int // consecutive 4xx refusals
	offline   bool
	reason    string
}

func newHealth(opts Options) *health {
	return &health{
		now: opts.Now, retryInterval: opts.RetryInterval, log: opts.Logger, onOffline: opts.OnOffline, onOnline: opts.OnOnline,
		transient: backoff.New(opts.RetryInterval, maxTransientBackoff),
		slow:      backoff.New(slowRetryMin, slowRetryMax),
	}
}

// state reports whether the bot is offline, and why.
func (h *health) state() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.offline, h.reason
}

// refused reports whether the server refused to renew the session once and the bot is not
// offline yet.
func (h *health) refused() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refusals > 0 && !h.offline
}

// gate says whether a call may send the token now. An offline bot whose slow retry is not due
// gets offline true and the error to fail with (unless the store has a new session); after a
// refusal, calls fail with err until the next attempt is due.
func (h *health) gate() (offline bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.offline && now.Before(h.retryAt) {
		return true, fmt.Errorf("%w: %s", ErrLoggedOut, h.reason)
	}
	if h.refusals > 0 && now.Before(h.retryAt) {
		// The token was just refused; it is tried again once retryAt has passed.
		return false, h.waitErrorLocked(now)
	}
	return false, nil
}

// waiting returns the error to fail with while no new attempt may be made, else nil.
func (h *health) waiting() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if now := h.now(); now.Before(h.retryAt) {
		return h.waitErrorLocked(now)
	}
	return nil
}

func (h *health) waitErrorLocked(now time.Time) error {
	wait := h.retryAt.Sub(now).Round(time.Second)
	if h.offline {
		return fmt.Errorf("%w: %s (next attempt in %s)", ErrLoggedOut, h.reason, wait)
	}
	return fmt.Errorf("%w: %v (next attempt in %s)", ErrRetrying, h.lastErr, wait)
}

// transientFailure records a failure that may pass: the next attempt after a backoff.
func (h *health) transientFailure(err error, msg string) error {
	h.mu.Lock()
	wait := h.transient.Next()
	if h.offline {
		wait = h.slow.Next()
	}
	h.retryAt, h.lastErr = h.now().Add(wait), err
	h.mu.Unlock()
	h.log.Warn(msg, "error", err, "next_attempt_in", wait.Round(time.Millisecond))
	return fmt.Errorf("%w: %w", ErrRetrying, err)
}

// refusal handles a 4xx: the first one is retried once after RetryInterval; from the second
// on, the bot is offline and retries slowly.
func (h *health) refusal(err error, advice string) error {
	h.mu.Lock()
	h.refusals++
	if h.refusals < 2 {
		wait := backoff.Jitter(h.retryInterval)
		h.retryAt, h.lastErr = h.now().Add(wait), err
		h.mu.Unlock()
		h.log.Warn("the homeserver refused to renew the session; trying once more", "error", err, "retry_in", wait.Round(time.Millisecond))
		return fmt.Errorf("%w: %w", ErrRetrying, err)
	}
	wasOffline := h.offline
	wait := h.slow.Next()
	h.offline, h.reason = true, advice
	h.retryAt, h.lastErr = h.now().Add(wait), err
	h.mu.Unlock()
	if !wasOffline {
		h.log.Error("the bot is offline: "+advice, "error", err, "next_attempt_in", wait.Round(time.Second))
		if h.onOffline != nil {
			h.onOffline(advice)
		}
	} else {
		h.log.Warn("the bot is still offline: "+advice, "error", err, "next_attempt_in", wait.Round(time.Second))
	}
	return fmt.Errorf("%w: %s: %w", ErrLoggedOut, advice, err)
}

// obtained records a new session: attempts may be made at once again.
func (h *health) obtained() {
	h.mu.Lock()
	h.retryAt, h.lastErr = time.Time{}, nil
	h.transient.Reset()
	h.mu.Unlock()
}

// reloaded records a session taken from the store: the bot is not offline any more.
func (h *health) reloaded() {
	h.mu.Lock()
	h.retryAt, h.refusals = time.Time{}, 0
	h.offline = false
	h.mu.Unlock()
}

// confirmed records a call that succeeded: the bot is online.
func (h *health) confirmed() {
	h.mu.Lock()
	wasOffline := h.offline
	h.refusals = 0
	h.offline, h.reason = false, ""
	h.mu.Unlock()
	if wasOffline && h.onOnline != nil {
		h.onOnline()
	}
}

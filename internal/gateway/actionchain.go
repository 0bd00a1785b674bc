package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
)

// Actions run through a chain of middleware (as go-cqhttp's caller does): what every action
// needs — metrics, a panic caught, failures logged, v11's _async and _rate_limited forms with
// their rate limit — is written once here, not in the handlers.
//
//	v11 requests:  suffixes → observe → recoverPanic → logFailure → dispatch
//	the others:               observe → recoverPanic → logFailure → dispatch

// invocation is one action call going down the chain.
type invocation struct {
	ctx     context.Context
	version int
	bot     *botEntry // nil when the request names none and several bots are served
	name    string
	params  json.RawMessage
}

// actionFunc runs an invocation: the next step of the chain.
type actionFunc func(inv *invocation) (any, error)

// actionMiddleware wraps a step; it may answer without calling next (stop the call early).
type actionMiddleware func(next actionFunc) actionFunc

// chain returns final wrapped by mws, the first outermost.
func chain(final actionFunc, mws ...actionMiddleware) actionFunc {
	f := final
	for i := len(mws) - 1; i >= 0; i-- {
		f = mws[i](f)
	}
	return f
}

func (ar actionRunner) initActions() {
	ar.h.actions = chain(ar.dispatch, ar.observe, ar.recoverPanic, ar.logFailure)
	ar.h.v11Actions = chain(ar.h.actions, ar.suffixes)
}

// run runs an action through the chain.
func (ar actionRunner) run(ctx context.Context, version int, bot *botEntry, name string, params json.RawMessage) (any, error) {
	return ar.h.actions(&invocation{ctx: ctx, version: version, bot: bot, name: name, params: params})
}

// dispatch looks the action up in the table and runs its handler, as its bot.
func (ar actionRunner) dispatch(inv *invocation) (any, error) {
	a := lookupAction(inv.version, inv.name)
	if a == nil {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "unsupported action: %q", inv.name)
	}
	if a.NeedsBot && inv.bot == nil {
		if pb := ar.h.reg.pendingBot(); pb != nil { // the only bot has not logged in yet
			if inv.version == 11 && inv.name == "get_status" {
				return ob11.PendingStatus(pb), nil
			}
			return nil, errPendingBot(pb)
		}
		return nil, protoErr(v12WhoAmI, v11BadRequest, "several bots are served here: say which one with self")
	}
	return a.Handle.Run(actionHost{ar.h}.newCall(inv.ctx, inv.version, inv.bot, inv.params))
}

// observe records a call in the action metrics: the action's name only when it is in the table
// (a client's made-up names are "unknown"), the retcode its protocol answers.
func (ar actionRunner) observe(next actionFunc) actionFunc {
	return func(inv *invocation) (data any, err error) {
		start := time.Now()
		defer func() {
			label := "unknown"
			if lookupAction(inv.version, inv.name) != nil {
				label = inv.name
			}
			code := 0
			if err != nil {
				if inv.version == 12 {
					code, _ = v12Retcode(err)
				} else {
					code, _ = v11Retcode(err)
				}
			}
			var self string
			if inv.bot != nil {
				self = string(inv.bot.Bot.UserID())
			}
			ar.h.metrics.Action(self, inv.version, label, code, time.Since(start))
		}()
		return next(inv)
	}
}

// recoverPanic answers a call whose handler panicked with an internal error: WebSocket, reverse
// WebSocket and webhook actions run in goroutines of their own, where a panic would end the
// process, every bot included.
func (ar actionRunner) recoverPanic(next actionFunc) actionFunc {
	return func(inv *invocation) (data any, err error) {
		defer func() {
			if r := recover(); r != nil {
				ar.h.log.Error("an action panicked: this is a bug in the gateway, please report it with this log line",
					"action", inv.name, "version", inv.version, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				data, err = nil, &model.ActionError{Kind: model.ErrInternal, Message: "internal error while running " + inv.name + " (a bug; the log has the details)"}
			}
		}()
		return next(inv)
	}
}

// logFailure logs the failures that are not the client's doing.
func (ar actionRunner) logFailure(next actionFunc) actionFunc {
	return func(inv *invocation) (any, error) {
		data, err := next(inv)
		var pe *protoError
		if err != nil && !errors.As(err, &pe) {
			ar.h.log.Warn("action failed", "action", inv.name, "version", inv.version, "error", err)
		}
		return data, err
	}
}

// detachedCall is the answer of an action that runs in the background (v11 status async).
type detachedCall struct{}

// suffixes serves go-cqhttp's _async and _rate_limited forms of v11 actions: the action runs in
// the background down the rest of the chain and the call is answered at once (retcode 1,
// async); _rate_limited waits for its turn first (rateGate). A failure is only logged: the
// client asked not to wait for the result.
func (ar actionRunner) suffixes(next actionFunc) actionFunc {
	return func(inv *invocation) (any, error) {
		name, suffix := v11Suffixed(inv.name)
		if suffix == "" {
			return next(inv)
		}
		a := lookupAction(11, name)
		if a.NeedsBot && inv.bot == nil {
			return nil, protoErr(v12WhoAmI, v11BadRequest, "several bots are served here: say which one with self")
		}
		// The params outlive the request, until the action has run: they count in the process's
		// bytes in flight (GATEWAY_MAX_BYTES_IN_FLIGHT), and so does the number of such actions.
		if ar.h.rateGate.detached.Add(1) > detachedMax {
			ar.h.rateGate.detached.Add(-1)
			return nil, model.Errorf(model.ErrRateLimited, "%d _async and _rate_limited actions are running or waiting already: slow down", detachedMax)
		}
		held := int64(len(inv.params))
		if !ar.h.inflight.TryAcquire(held) {
			ar.h.rateGate.detached.Add(-1)
			ar.h.stats.Busy.Add(1)
			return nil, model.Errorf(model.ErrRateLimited, "too many request bytes in flight (GATEWAY_MAX_BYTES_IN_FLIGHT) to keep this action's params until it runs: try again later")
		}
		var wait time.Duration
		if suffix == "_rate_limited" {
			var ok bool
			if wait, ok = ar.h.rateGate.reserve(time.Now()); !ok {
				ar.h.inflight.Release(held)
				ar.h.rateGate.detached.Add(-1)
				return nil, model.Errorf(model.ErrRateLimited, "%d _rate_limited actions are waiting already: slow down", rateLimitedMax)
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(inv.ctx), wait+detachedTimeout)
		bg := &invocation{ctx: ctx, version: 11, bot: inv.bot, name: name, params: append(json.RawMessage(nil), inv.params...)}
		go func() {
			defer cancel()
			defer ar.h.rateGate.detached.Add(-1)
			defer ar.h.inflight.Release(held)
			if suffix == "_rate_limited" {
				defer ar.h.rateGate.done()
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return
				}
			}
			if _, err := next(bg); err != nil {
				ar.h.log.Warn("background action failed", "action", name+suffix, "error", err)
			}
		}()
		return detachedCall{}, nil
	}
}

// Package calls runs the OneBot actions: the request frames of every transport go through a
// middleware chain to the faces' handlers (package onebot and its v11, v12 rows of the action
// table), which reach the hub's services through onebot.Host. It knows the hub only through Hub,
// and bots only as core.Entry.
package calls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
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
	bot     *core.Entry // nil when the request names none and several bots are served
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

// Runner runs the actions of the hub's clients.
type Runner struct {
	hub Hub
	// actions runs an action through the middleware chain; v11Actions is the chain of v11
	// requests from clients (the _async and _rate_limited forms first).
	actions, v11Actions actionFunc
	rateGate            rateGate // paces v11 _rate_limited actions (v11forms.go)
}

// New returns the runner of hub's actions.
func New(hub Hub) *Runner {
	r := &Runner{hub: hub}
	r.actions = chain(r.dispatch, r.observe, r.recoverPanic, r.logFailure)
	r.v11Actions = chain(r.actions, r.suffixes)
	return r
}

// Run runs an action through the chain as bot (nil: the request names none).
func (r *Runner) Run(ctx context.Context, version int, bot *core.Entry, name string, params json.RawMessage) (any, error) {
	return r.actions(&invocation{ctx: ctx, version: version, bot: bot, name: name, params: params})
}

// dispatch looks the action up in the table and runs its handler, as its bot.
func (r *Runner) dispatch(inv *invocation) (any, error) {
	a := lookup(inv.version, inv.name)
	if a == nil {
		return nil, onebot.ProtoErr(ob12.RetUnsupportedAction, ob11.RetUnsupportedAction, "unsupported action: %q", inv.name)
	}
	if a.NeedsBot && inv.bot == nil {
		if pb := r.hub.PendingBot(); pb != nil { // the only bot has not logged in yet
			if inv.version == 11 && inv.name == "get_status" {
				return ob11.PendingStatus(pb), nil
			}
			return nil, PendingError(pb)
		}
		return nil, onebot.ProtoErr(ob12.RetWhoAmI, ob11.RetBadRequest, "several bots are served here: say which one with self")
	}
	return a.Handle.Run(actionHost{r}.newCall(inv.ctx, inv.version, inv.bot, inv.params))
}

// PendingError is the answer to an action for a bot that has not logged in yet: offline (v12
// 34002, v11 100), with the reason.
func PendingError(b model.Bot) error {
	st := b.Status()
	return model.Errorf(model.ErrBotOffline, "bot %s is offline (%s): %s", face.Label(b), st.State, face.PendingReason(b))
}

// observe records a call in the action metrics: the action's name only when it is in the table
// (a client's made-up names are "unknown"), the retcode its protocol answers.
func (r *Runner) observe(next actionFunc) actionFunc {
	return func(inv *invocation) (data any, err error) {
		start := time.Now()
		defer func() {
			label := "unknown"
			if lookup(inv.version, inv.name) != nil {
				label = inv.name
			}
			code := 0
			if err != nil {
				if inv.version == 12 {
					code, _ = ob12.Retcode(err)
				} else {
					code, _ = ob11.Retcode(err)
				}
			}
			var self string
			if inv.bot != nil {
				self = string(inv.bot.Bot.UserID())
			}
			r.hub.Settings().Metrics.Action(self, inv.version, label, code, time.Since(start))
		}()
		return next(inv)
	}
}

// recoverPanic answers a call whose handler panicked with an internal error: WebSocket, reverse
// WebSocket and webhook actions run in goroutines of their own, where a panic would end the
// process, every bot included.
func (r *Runner) recoverPanic(next actionFunc) actionFunc {
	return func(inv *invocation) (data any, err error) {
		defer func() {
			if p := recover(); p != nil {
				r.hub.Settings().Log.Error("an action panicked: this is a bug in the gateway, please report it with this log line",
					"action", inv.name, "version", inv.version, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				data, err = nil, &model.ActionError{Kind: model.ErrInternal, Message: "internal error while running " + inv.name + " (a bug; the log has the details)"}
			}
		}()
		return next(inv)
	}
}

// logFailure logs the failures that are not the client's doing.
func (r *Runner) logFailure(next actionFunc) actionFunc {
	return func(inv *invocation) (any, error) {
		data, err := next(inv)
		var pe *onebot.ProtoError
		if err != nil && !errors.As(err, &pe) {
			r.hub.Settings().Log.Warn("action failed", "action", inv.name, "version", inv.version, "error", err)
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
func (r *Runner) suffixes(next actionFunc) actionFunc {
	return func(inv *invocation) (any, error) {
		name, suffix := v11Suffixed(inv.name)
		if suffix == "" {
			return next(inv)
		}
		a := lookup(11, name)
		if a.NeedsBot && inv.bot == nil {
			return nil, onebot.ProtoErr(ob12.RetWhoAmI, ob11.RetBadRequest, "several bots are served here: say which one with self")
		}
		// The params outlive the request, until the action has run: they count in the process's
		// bytes in flight (GATEWAY_MAX_BYTES_IN_FLIGHT), and so does the number of such actions.
		if r.rateGate.detached.Add(1) > detachedMax {
			r.rateGate.detached.Add(-1)
			return nil, model.Errorf(model.ErrRateLimited, "%d _async and _rate_limited actions are running or waiting already: slow down", detachedMax)
		}
		held, set := int64(len(inv.params)), r.hub.Settings()
		inflight := set.Inflight
		if !inflight.TryAcquire(held) {
			r.rateGate.detached.Add(-1)
			set.Stats.Busy.Add(1)
			return nil, model.Errorf(model.ErrRateLimited, "too many request bytes in flight (GATEWAY_MAX_BYTES_IN_FLIGHT) to keep this action's params until it runs: try again later")
		}
		var wait time.Duration
		if suffix == "_rate_limited" {
			var ok bool
			if wait, ok = r.rateGate.reserve(time.Now()); !ok {
				inflight.Release(held)
				r.rateGate.detached.Add(-1)
				return nil, model.Errorf(model.ErrRateLimited, "%d _rate_limited actions are waiting already: slow down", rateLimitedMax)
			}
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(inv.ctx), wait+detachedTimeout)
		bg := &invocation{ctx: ctx, version: 11, bot: inv.bot, name: name, params: append(json.RawMessage(nil), inv.params...)}
		go func() {
			defer cancel()
			defer r.rateGate.detached.Add(-1)
			defer inflight.Release(held)
			if suffix == "_rate_limited" {
				defer r.rateGate.done()
				if await.Sleep(ctx, wait) != nil {
					return
				}
			}
			if _, err := next(bg); err != nil {
				set.Log.Warn("background action failed", "action", name+suffix, "error", err)
			}
		}()
		return detachedCall{}, nil
	}
}

package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix"

	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/model"
)

// MaxBackoff caps the wait between two tries after a failure.
const MaxBackoff = 60 * time.Second

// offlinePoll is how often the sync loop of a bot that cannot authenticate looks again.
const offlinePoll = 10 * time.Second

// Login obtains the bot's session (token store, configuration, password or OAuth login; see
// package auth) and checks it with /account/whoami, retrying transient failures, until it
// succeeds or ctx ends. A configured user_id that does not match is fatal, and so is a bot with
// no way to get a token.
func (a *Account) Login(ctx context.Context) error {
	retry := backoff.New(a.RetryInterval, MaxBackoff)
	for {
		if err := a.auth.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, auth.ErrNoCredentials) {
				err = fmt.Errorf("%w: %w", ErrFatal, err)
				a.SetStatus(model.StateStopped, err.Error())
				return err
			}
			if !Sleep(ctx, a.FailureWait(err, retry)) {
				return ctx.Err()
			}
			continue
		}
		if d := a.auth.Tokens().DeviceID; d != "" && !a.loggedIn.Load() {
			a.client.DeviceID = d
		}
		resp, err := a.client.Whoami(ctx)
		if err == nil {
			want := a.Config.UserID
			if want != "" && resp.UserID != want {
				err := fmt.Errorf("%w: the access token belongs to %s, but user_id is %s: fix user_id or the token", ErrFatal, resp.UserID, want)
				a.SetStatus(model.StateStopped, err.Error())
				return err
			}
			u := resp.UserID
			a.userID.Store(&u)
			a.client.UserID = u
			if a.client.DeviceID == "" {
				a.client.DeviceID = resp.DeviceID
			}
			a.auth.Confirm(ctx, u, resp.DeviceID)
			if a.Config.UserID == "" && !a.loggedIn.Load() {
				a.log.Store(a.Log().With("user_id", u)) // the bot's name in logs was not its user ID
			}
			a.Log().Info("logged in", "device_id", resp.DeviceID)
			a.loggedIn.Store(true)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := a.FailureWait(err, retry)
		if !Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// FailureWait classifies a failed call, sets the status accordingly and returns how long to wait.
func (a *Account) FailureWait(err error, retry *backoff.Backoff) time.Duration {
	var httpErr mautrix.HTTPError
	switch {
	case errors.Is(err, auth.ErrLoggedOut):
		reason := "cannot authenticate: " + err.Error()
		if off, why := a.auth.Offline(); off {
			reason = why
		}
		a.SetStatus(model.StateOffline, reason)
		// Calls fail fast without touching the network while offline; polling often only
		// notices sooner a session that `gateway login` stored.
		return min(max(a.RetryInterval, time.Second), offlinePoll)
	case errors.Is(err, auth.ErrRetrying):
		// It says it cannot obtain a token now, and why; after a refusal the session itself is
		// being retried, and the bot is not online meanwhile.
		a.StoreStatus(model.BotStatus{State: model.StateBackoff, Reason: err.Error(), SessionRetried: a.auth.SessionRefused()})
	case errors.Is(err, mautrix.MUnknownToken):
		a.SetStatus(model.StateOffline, "the homeserver rejected the access token (M_UNKNOWN_TOKEN): set a new access_token, or login_user and login_password")
		a.Log().Error("access token rejected; the bot is offline until it is replaced", "error", err)
		return MaxBackoff
	case errors.Is(err, mautrix.MLimitExceeded):
		wait := RetryAfter(err)
		a.SetStatus(model.StateBackoff, "rate limited by the homeserver")
		a.Log().Warn("rate limited by the homeserver", "retry_in", wait)
		return wait
	case errors.As(err, &httpErr) && httpErr.RespError != nil && httpErr.Response != nil && httpErr.Response.StatusCode < 500:
		a.SetStatus(model.StateBackoff, "homeserver refused: "+httpErr.RespError.ErrCode+" "+httpErr.RespError.Err)
	default:
		a.SetStatus(model.StateBackoff, "homeserver unreachable: "+err.Error())
	}
	wait := retry.Next()
	a.Log().Warn("homeserver request failed; retrying", "error", err, "retry_in", wait.Round(time.Millisecond))
	return wait
}

// RetryAfter reads retry_after_ms from a 429 (or the Retry-After header), defaulting to 5 s.
func RetryAfter(err error) time.Duration {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) {
		if httpErr.RespError != nil {
			if ms, ok := httpErr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
		if httpErr.Response != nil {
			if secs, err := time.ParseDuration(httpErr.Response.Header.Get("Retry-After") + "s"); err == nil && secs > 0 {
				return secs
			}
		}
	}
	return 5 * time.Second
}

// Sleep waits d or until ctx ends; it reports whether the full wait happened (await.Sleep).
func Sleep(ctx context.Context, d time.Duration) bool { return await.Sleep(ctx, d) == nil }

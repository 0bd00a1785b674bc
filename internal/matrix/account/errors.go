package account

import (
	"context"
	"errors"

	"maunium.net/go/mautrix"

	"github.com/matrix-onebot/gateway/internal/model"
)

// ActionError classifies a homeserver failure for the OneBot side.
func ActionError(msg string, err error) error {
	var ae *model.ActionError
	if errors.As(err, &ae) {
		return err // already classified (e.g. by the send queue)
	}
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		// Every homeserver refusal, M_NOT_FOUND included, is a platform error carrying the errcode.
		kind := model.ErrPlatform
		if errors.Is(err, mautrix.MLimitExceeded) {
			kind = model.ErrRateLimited
		}
		return &model.ActionError{Kind: kind, Message: msg + ": " + httpErr.RespError.Err, MatrixErr: httpErr.RespError.ErrCode}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &model.ActionError{Kind: model.ErrNetwork, Message: msg + ": timed out", Err: err}
	}
	return &model.ActionError{Kind: model.ErrNetwork, Message: msg, Err: err}
}

// Refusal is a send refused because a homeserver call it needed failed. It keeps err (the send
// queue retries 429s, 5xx and network failures through it) and its Matrix errcode.
func Refusal(msg string, err error) error {
	kind, code := model.ErrNetwork, ""
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		kind, code = model.ErrPlatform, httpErr.RespError.ErrCode
		if errors.Is(err, mautrix.MLimitExceeded) {
			kind = model.ErrRateLimited
		}
	}
	return &model.ActionError{Kind: kind, MatrixErr: code, Message: msg, Err: err}
}

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
)

// OneBot v11 HTTP POST: events are POSTed with X-Self-ID (and X-Signature); the reply may carry
// a quick operation (go-cqhttp's "快速操作"). See push.RunWebhook for the delivery itself.

// runQuickOperation runs a quick operation through the action table: each part works as soon as
// the action it maps to exists, and anything that cannot be done is logged with the reason.
func (ar actionRunner) runQuickOperation(ctx context.Context, bot *botEntry, event []byte, op *ob11.QuickOperation, log *slog.Logger) {
	var ev ob11.QuickContext
	if err := json.Unmarshal(event, &ev); err != nil {
		log.Warn("quick operation ignored: the event cannot be read", "error", err)
		return
	}
	steps, ignored, err := ob11.QuickSteps(ev, op)
	if len(ignored) > 0 {
		log.Warn("quick operation keys ignored: not supported for this event", "keys", ignored, "post_type", ev.PostType)
	}
	if err != nil {
		log.Warn("quick operation ignored", "error", err)
		return
	}
	for _, s := range steps {
		_, err := ar.run(ctx, 11, bot, s.Action, mustJSON(s.Params))
		var pe *protoError
		switch {
		case err == nil:
			log.Debug("ran quick operation", "op", s.Op, "action", s.Action)
		case errors.As(err, &pe) && pe.V11 == v11UnsupportedAction:
			log.Warn("quick operation not supported: its action is not available", "op", s.Op, "action", s.Action)
		default:
			log.Warn("quick operation failed", "op", s.Op, "action", s.Action, "error", err)
		}
	}
}

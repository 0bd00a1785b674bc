package calls

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// Reply runs what a webhook's (or v11 HTTP POST endpoint's) JSON answer to event asks for: v12 a
// list of actions, as the event's bot, within the reply scope (replyscope.go); v11 a quick
// operation (go-cqhttp's "快速操作") as bot. Failures are only logged: the endpoint has no way
// to receive them.
func (r *Runner) Reply(ctx context.Context, version int, bot *core.Entry, event, reply []byte, log *slog.Logger) {
	if version == 11 {
		op, err := ob11.DecodeQuickOperation(reply)
		if err != nil {
			log.Warn("quick operation ignored", "error", err)
			return
		}
		r.quickOperation(ctx, bot, event, op, log)
		return
	}
	reqs, err := decodeWebhookActions(reply)
	if err != nil {
		log.Warn("webhook reply ignored", "error", err)
		return
	}
	var self struct {
		Self *ob12.Self `json:"self"`
	}
	_ = json.Unmarshal(event, &self)
	bot = nil
	if self.Self != nil {
		bot = r.hub.BotByUser(id.UserID(self.Self.UserID))
	}
	if bot == nil {
		log.Warn("webhook reply ignored: the event names no bot of this gateway", "actions", len(reqs))
		return
	}
	for i := range reqs {
		if r.hub.Settings().ReplyScope != ReplyScopeBot {
			if err := checkReplyScope(event, &reqs[i]); err != nil {
				log.Warn("action from a webhook reply refused", "action", reqs[i].Action, "reason", err)
				continue
			}
		}
		// The bot of the event is the connection's bot: a reply never acts as another bot.
		resp := r.RunV12(ctx, bot, &reqs[i])
		if resp.Status != "ok" {
			log.Warn("action from a webhook reply failed", "action", reqs[i].Action, "retcode", resp.Retcode, "message", resp.Message)
		} else {
			log.Debug("ran action from a webhook reply", "action", reqs[i].Action)
		}
	}
}

// decodeWebhookActions reads the body of a v12 webhook's 200 reply: a JSON list of action
// requests (one request object is accepted too).
func decodeWebhookActions(body []byte) ([]ob12.Request, error) {
	body = bytes.TrimSpace(body)
	var reqs []ob12.Request
	switch {
	case len(body) == 0:
		return nil, nil
	case body[0] == '{':
		var r ob12.Request
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("reply is not an action request: %w", err)
		}
		reqs = []ob12.Request{r}
	case body[0] == '[':
		if err := json.Unmarshal(body, &reqs); err != nil {
			return nil, fmt.Errorf("reply is not a list of action requests: %w", err)
		}
	default:
		return nil, errors.New("reply is not a JSON list of action requests")
	}
	if len(reqs) > maxWebhookReplyActions {
		return nil, fmt.Errorf("reply lists %d action requests, more than %d (a reply answers one event)", len(reqs), maxWebhookReplyActions)
	}
	for i, r := range reqs {
		if r.Action == "" {
			return nil, fmt.Errorf("action request %d has no action", i)
		}
		if len(r.Action) > 100 {
			return nil, fmt.Errorf("action request %d names an action of %d bytes", i, len(r.Action))
		}
	}
	return reqs, nil
}

// maxWebhookReplyActions bounds what one webhook reply may run: it answers one event, and each
// action runs as the bot, one after the other, before the next event is posted.
const maxWebhookReplyActions = 16

// quickOperation runs a quick operation through the action table: each part works as soon as
// the action it maps to exists, and anything that cannot be done is logged with the reason.
func (r *Runner) quickOperation(ctx context.Context, bot *core.Entry, event []byte, op *ob11.QuickOperation, log *slog.Logger) {
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
		_, err := r.Run(ctx, 11, bot, s.Action, face.MustJSON(s.Params))
		var pe *onebot.ProtoError
		switch {
		case err == nil:
			log.Debug("ran quick operation", "op", s.Op, "action", s.Action)
		case errors.As(err, &pe) && pe.V11 == ob11.RetUnsupportedAction:
			log.Warn("quick operation not supported: its action is not available", "op", s.Op, "action", s.Action)
		default:
			log.Warn("quick operation failed", "op", s.Op, "action", s.Action, "error", err)
		}
	}
}

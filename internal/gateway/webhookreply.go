package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"maunium.net/go/mautrix/id"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
)

// RunReply implements push.Host: it runs what a webhook's 200 JSON reply asks for, v12 a list of
// actions, v11 a quick operation. Failures are only logged (the endpoint has no way to receive
// them).
func (ph pushHost) RunReply(ctx context.Context, version int, entry *botEntry, event, reply []byte, log *slog.Logger) {
	if version == 11 {
		op, err := ob11.DecodeQuickOperation(reply)
		if err != nil {
			log.Warn("quick operation ignored", "error", err)
			return
		}
		ph.h.calls.runQuickOperation(ctx, entry, event, op, log)
		return
	}
	reqs, err := decodeWebhookActions(reply)
	if err != nil {
		log.Warn("webhook reply ignored", "error", err)
		return
	}
	var self struct {
		Self *v12Self `json:"self"`
	}
	_ = json.Unmarshal(event, &self)
	var bot *botEntry
	if self.Self != nil {
		bot = ph.h.reg.botByUser(id.UserID(self.Self.UserID))
	}
	if bot == nil {
		log.Warn("webhook reply ignored: the event names no bot of this gateway", "actions", len(reqs))
		return
	}
	for i := range reqs {
		if ph.h.opts.WebhookReplyScope != ReplyScopeBot {
			if err := checkReplyScope(event, &reqs[i]); err != nil {
				log.Warn("action from a webhook reply refused", "action", reqs[i].Action, "reason", err)
				continue
			}
		}
		// The bot of the event is the connection's bot: a reply never acts as another bot.
		resp := ph.h.calls.runV12(ctx, bot, &reqs[i])
		if resp.Status != "ok" {
			log.Warn("action from a webhook reply failed", "action", reqs[i].Action, "retcode", resp.Retcode, "message", resp.Message)
		} else {
			log.Debug("ran action from a webhook reply", "action", reqs[i].Action)
		}
	}
}

// decodeWebhookActions reads the body of a v12 webhook's 200 reply: a JSON list of action
// requests (one request object is accepted too).
func decodeWebhookActions(body []byte) ([]v12Request, error) {
	body = bytes.TrimSpace(body)
	var reqs []v12Request
	switch {
	case len(body) == 0:
		return nil, nil
	case body[0] == '{':
		var r v12Request
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("reply is not an action request: %w", err)
		}
		reqs = []v12Request{r}
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

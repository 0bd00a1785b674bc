package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// OneBot v11 HTTP POST: events are POSTed with X-Self-ID (and X-Signature); the reply may carry
// a quick operation (go-cqhttp's "快速操作"). See RunWebhook for the delivery itself.

// jsStringifyCompat rewrites compact JSON from marshal into exactly the bytes that JavaScript's
// JSON.stringify(JSON.parse(b)) yields, so that a client which checks X-Signature over its
// re-serialisation (Koishi) agrees with one that checks the bytes received (NoneBot): Go escapes
// U+2028, U+2029 and invalid UTF-8 (as \ufffd), JavaScript writes those characters as they are.
func jsStringifyCompat(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] == 'u' && i+6 <= len(b) {
				switch string(b[i+2 : i+6]) {
				case "2028", "2029", "fffd":
					n, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
					out = utf8.AppendRune(out, rune(n))
					i += 5
					continue
				}
			}
			out = append(out, c, b[i+1]) // any other escape is kept as it is, with its character
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

// quickOperation is the reply to a v11 HTTP POST event. Unknown keys are kept to be reported.
type quickOperation struct {
	Reply       json.RawMessage `json:"reply"`
	AutoEscape  flexBool        `json:"auto_escape"`
	AtSender    *flexBool       `json:"at_sender"`
	Delete      flexBool        `json:"delete"`
	Kick        flexBool        `json:"kick"`
	Ban         flexBool        `json:"ban"`
	BanDuration *flexInt        `json:"ban_duration"`
	Approve     *flexBool       `json:"approve"`
	Remark      string          `json:"remark"`
	Reason      string          `json:"reason"`
	unknown     []string
}

var quickOperationKeys = map[string]bool{
	"reply": true, "auto_escape": true, "at_sender": true, "delete": true, "kick": true, "ban": true,
	"ban_duration": true, "approve": true, "remark": true, "reason": true,
	"block": true, // go-cqhttp: stop other plugins — meaningless here, accepted silently
}

// decodeQuickOperation reads a quick operation from a v11 HTTP POST reply body.
func decodeQuickOperation(body []byte) (*quickOperation, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return nil, fmt.Errorf("reply is not a JSON object: %w", err)
	}
	var op quickOperation
	if err := json.Unmarshal(body, &op); err != nil {
		return nil, fmt.Errorf("bad quick operation: %w", err)
	}
	for k := range keys {
		if !quickOperationKeys[k] {
			op.unknown = append(op.unknown, k)
		}
	}
	return &op, nil
}

// quickContext is what a quick operation needs to know of the event it answers.
type quickContext struct {
	PostType    string  `json:"post_type"`
	MessageType string  `json:"message_type"`
	RequestType string  `json:"request_type"`
	SubType     string  `json:"sub_type"`
	MessageID   flexInt `json:"message_id"`
	GroupID     flexInt `json:"group_id"`
	UserID      flexInt `json:"user_id"`
	Flag        string  `json:"flag"`
}

// quickStep is one action a quick operation turns into.
type quickStep struct {
	op     string // the quick operation key, for logs
	action string
	params map[string]any
}

// quickSteps maps a quick operation on an event to actions of the action table, and lists the
// keys that do not apply to the event.
func quickSteps(ev quickContext, op *quickOperation) ([]quickStep, []string, error) {
	var steps []quickStep
	ignored := append([]string(nil), op.unknown...)
	group := ev.PostType == "message" && ev.MessageType == "group"
	if len(op.Reply) > 0 && string(op.Reply) != "null" {
		if ev.PostType != "message" {
			ignored = append(ignored, "reply")
		} else {
			segs, err := decodeV11Message(op.Reply, bool(op.AutoEscape))
			if err != nil {
				return nil, ignored, fmt.Errorf("reply: %w", err)
			}
			atSender := group && (op.AtSender == nil || bool(*op.AtSender))
			if atSender {
				segs = append([]v11Segment{
					{Type: "at", Data: map[string]any{"qq": strconv.FormatInt(int64(ev.UserID), 10)}},
					{Type: "text", Data: map[string]any{"text": " "}},
				}, segs...)
			}
			p := map[string]any{"message_type": ev.MessageType, "message": segs}
			if ev.MessageID != 0 { // an event pushed again is answered once
				p["matrix_txn_id"] = "quick-reply:" + strconv.FormatInt(int64(ev.MessageID), 10)
			}
			if group {
				p["group_id"] = int64(ev.GroupID)
			} else {
				p["user_id"] = int64(ev.UserID)
			}
			steps = append(steps, quickStep{"reply", "send_msg", p})
		}
	}
	if op.Delete {
		if ev.PostType != "message" {
			ignored = append(ignored, "delete")
		} else {
			steps = append(steps, quickStep{"delete", "delete_msg", map[string]any{"message_id": int64(ev.MessageID)}})
		}
	}
	if op.Kick {
		if !group {
			ignored = append(ignored, "kick")
		} else {
			steps = append(steps, quickStep{"kick", "set_group_kick", map[string]any{"group_id": int64(ev.GroupID), "user_id": int64(ev.UserID)}})
		}
	}
	if op.Ban {
		if !group {
			ignored = append(ignored, "ban")
		} else {
			d := int64(30 * 60) // go-cqhttp's default: 30 minutes
			if op.BanDuration != nil {
				d = int64(*op.BanDuration)
			}
			steps = append(steps, quickStep{"ban", "set_group_ban", map[string]any{"group_id": int64(ev.GroupID), "user_id": int64(ev.UserID), "duration": d}})
		}
	}
	if op.Approve != nil {
		switch {
		case ev.PostType == "request" && ev.RequestType == "friend":
			steps = append(steps, quickStep{"approve", "set_friend_add_request", map[string]any{"flag": ev.Flag, "approve": bool(*op.Approve), "remark": op.Remark}})
		case ev.PostType == "request" && ev.RequestType == "group":
			steps = append(steps, quickStep{"approve", "set_group_add_request", map[string]any{"flag": ev.Flag, "sub_type": ev.SubType, "approve": bool(*op.Approve), "reason": op.Reason}})
		default:
			ignored = append(ignored, "approve")
		}
	}
	return steps, ignored, nil
}

// runQuickOperation runs a quick operation through the action table: each part works as soon as
// the action it maps to exists, and anything that cannot be done is logged with the reason.
func (ar actionRunner) runQuickOperation(ctx context.Context, bot *botEntry, event []byte, op *quickOperation, log *slog.Logger) {
	var ev quickContext
	if err := json.Unmarshal(event, &ev); err != nil {
		log.Warn("quick operation ignored: the event cannot be read", "error", err)
		return
	}
	steps, ignored, err := quickSteps(ev, op)
	if len(ignored) > 0 {
		log.Warn("quick operation keys ignored: not supported for this event", "keys", ignored, "post_type", ev.PostType)
	}
	if err != nil {
		log.Warn("quick operation ignored", "error", err)
		return
	}
	for _, s := range steps {
		_, err := ar.run(ctx, 11, bot, s.action, mustJSON(s.params))
		var pe *protoError
		switch {
		case err == nil:
			log.Debug("ran quick operation", "op", s.op, "action", s.action)
		case errors.As(err, &pe) && pe.v11 == v11UnsupportedAction:
			log.Warn("quick operation not supported: its action is not available", "op", s.op, "action", s.action)
		default:
			log.Warn("quick operation failed", "op", s.op, "action", s.action, "error", err)
		}
	}
}

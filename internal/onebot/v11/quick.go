package v11

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/matrix-onebot/gateway/internal/onebot"
)

// QuickOperation is the reply to a v11 HTTP POST event. Unknown keys are kept to be reported.
type QuickOperation struct {
	Reply       json.RawMessage  `json:"reply"`
	AutoEscape  onebot.FlexBool  `json:"auto_escape"`
	AtSender    *onebot.FlexBool `json:"at_sender"`
	Delete      onebot.FlexBool  `json:"delete"`
	Kick        onebot.FlexBool  `json:"kick"`
	Ban         onebot.FlexBool  `json:"ban"`
	BanDuration *onebot.FlexInt  `json:"ban_duration"`
	Approve     *onebot.FlexBool `json:"approve"`
	Remark      string           `json:"remark"`
	Reason      string           `json:"reason"`
	unknown     []string
}

var quickOperationKeys = map[string]bool{
	"reply": true, "auto_escape": true, "at_sender": true, "delete": true, "kick": true, "ban": true,
	"ban_duration": true, "approve": true, "remark": true, "reason": true,
	"block": true, // go-cqhttp: stop other plugins — meaningless here, accepted silently
}

// DecodeQuickOperation reads a quick operation from a v11 HTTP POST reply body.
func DecodeQuickOperation(body []byte) (*QuickOperation, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return nil, fmt.Errorf("reply is not a JSON object: %w", err)
	}
	var op QuickOperation
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

// QuickContext is what a quick operation needs to know of the event it answers.
type QuickContext struct {
	PostType    string         `json:"post_type"`
	MessageType string         `json:"message_type"`
	RequestType string         `json:"request_type"`
	SubType     string         `json:"sub_type"`
	MessageID   onebot.FlexInt `json:"message_id"`
	GroupID     onebot.FlexInt `json:"group_id"`
	UserID      onebot.FlexInt `json:"user_id"`
	Flag        string         `json:"flag"`
}

// QuickStep is one action a quick operation turns into.
type QuickStep struct {
	Op     string // the quick operation key, for logs
	Action string
	Params map[string]any
}

// QuickSteps maps a quick operation on an event to actions of the action table, and lists the
// keys that do not apply to the event.
func QuickSteps(ev QuickContext, op *QuickOperation) ([]QuickStep, []string, error) {
	var steps []QuickStep
	ignored := append([]string(nil), op.unknown...)
	group := ev.PostType == "message" && ev.MessageType == "group"
	if len(op.Reply) > 0 && string(op.Reply) != "null" {
		if ev.PostType != "message" {
			ignored = append(ignored, "reply")
		} else {
			segs, err := DecodeMessage(op.Reply, bool(op.AutoEscape))
			if err != nil {
				return nil, ignored, fmt.Errorf("reply: %w", err)
			}
			atSender := group && (op.AtSender == nil || bool(*op.AtSender))
			if atSender {
				segs = append([]Segment{
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
			steps = append(steps, QuickStep{"reply", "send_msg", p})
		}
	}
	if op.Delete {
		if ev.PostType != "message" {
			ignored = append(ignored, "delete")
		} else {
			steps = append(steps, QuickStep{"delete", "delete_msg", map[string]any{"message_id": int64(ev.MessageID)}})
		}
	}
	if op.Kick {
		if !group {
			ignored = append(ignored, "kick")
		} else {
			steps = append(steps, QuickStep{"kick", "set_group_kick", map[string]any{"group_id": int64(ev.GroupID), "user_id": int64(ev.UserID)}})
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
			steps = append(steps, QuickStep{"ban", "set_group_ban", map[string]any{"group_id": int64(ev.GroupID), "user_id": int64(ev.UserID), "duration": d}})
		}
	}
	if op.Approve != nil {
		switch {
		case ev.PostType == "request" && ev.RequestType == "friend":
			steps = append(steps, QuickStep{"approve", "set_friend_add_request", map[string]any{"flag": ev.Flag, "approve": bool(*op.Approve), "remark": op.Remark}})
		case ev.PostType == "request" && ev.RequestType == "group":
			steps = append(steps, QuickStep{"approve", "set_group_add_request", map[string]any{"flag": ev.Flag, "sub_type": ev.SubType, "approve": bool(*op.Approve), "reason": op.Reason}})
		default:
			ignored = append(ignored, "approve")
		}
	}
	return steps, ignored, nil
}

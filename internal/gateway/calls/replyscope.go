package calls

import (
	"encoding/json"
	"fmt"
	"strings"

	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// What the actions in a v12 webhook's reply may act on (GATEWAY_WEBHOOK_REPLY_SCOPE). A webhook
// endpoint only receives events, so by default its reply may only answer the event: act as the
// event's bot on the event's room, user and message. Under either scope it never acts as another
// bot (Reply limits the reply to the event's bot).
const (
	ReplyScopeEvent = "event" // the default
	ReplyScopeBot   = "bot"
)

// replyScopeActions are the v12 actions a reply may run under ReplyScopeEvent. Each names its
// room, user and message only with group_id, user_id and message_id, which checkReplyScope holds
// to the event's; actions that can reach anything else (raw requests, state events, joining or
// creating rooms, files, lists of all rooms) are not here.
var replyScopeActions = map[string]bool{
	"send_message": true, "delete_message": true, "matrix.get_message": true, "matrix.react": true,
	"matrix.set_typing": true, "matrix.mark_read": true,
	"matrix.kick": true, "matrix.ban": true, "matrix.unban": true, "matrix.invite": true,
	"matrix.accept_invite": true, "matrix.decline_invite": true,
	"get_self_info": true, "get_status": true, "get_version": true, "get_supported_actions": true,
	"get_user_info": true, "get_group_info": true, "get_group_member_info": true, "get_group_member_list": true,
	"set_group_name": true, "leave_group": true,
}

// replyEvent is what the scope check needs of the event a reply answers.
type replyEvent struct {
	GroupID   string `json:"group_id"`
	RoomID    string `json:"matrix.room_id"`
	UserID    string `json:"user_id"`
	MessageID string `json:"message_id"`
}

// checkReplyScope refuses an action of a webhook reply that goes beyond the event it answers:
// an action not in replyScopeActions, or a group_id, user_id or message_id other than the
// event's.
func checkReplyScope(event []byte, req *ob12.Request) error {
	if !replyScopeActions[req.Action] {
		return fmt.Errorf("action %s may not run from a webhook reply: it can act beyond the event's room and user "+
			"(set GATEWAY_WEBHOOK_REPLY_SCOPE=bot to allow any action)", req.Action)
	}
	var ev replyEvent
	if err := json.Unmarshal(event, &ev); err != nil {
		return fmt.Errorf("the event cannot be read: %w", err)
	}
	room := ev.GroupID
	if room == "" {
		room = ev.RoomID // a private (direct room) event: its room is only in matrix.room_id
	}
	var params map[string]json.RawMessage
	if len(req.Params) > 0 && string(req.Params) != "null" {
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return fmt.Errorf("params of %s are not a JSON object", req.Action)
		}
	}
	for _, t := range []struct{ key, want, what string }{
		{"group_id", room, "room"},
		{"user_id", ev.UserID, "user"},
		{"message_id", ev.MessageID, "message"},
	} {
		// encoding/json matches keys without regard to case (Group_ID, even with Unicode
		// folding), so every key that the handler could read as this one is checked.
		for key, raw := range params {
			if !strings.EqualFold(key, t.key) || string(raw) == "null" {
				continue
			}
			var got string
			if err := json.Unmarshal(raw, &got); err != nil || got == "" || got != t.want {
				return fmt.Errorf("%s of %s is not the event's %s: a webhook reply acts only on the event's room, user and message "+
					"(set GATEWAY_WEBHOOK_REPLY_SCOPE=bot to allow more)", t.key, req.Action, t.what)
			}
		}
	}
	return nil
}

package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/onebot"
)

// A send with an idempotency key is handed to the bot with it, and a retry answers the first
// message without a second send; another message under the key is a bad param; a key that is
// too long is refused before anything is sent.
func TestSendIdempotencyKeyReachesTheBot(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	seedIDs(t, db)
	first := map[int]any{}
	for _, tc := range []struct {
		version     int
		name        string
		params, alt string
	}{
		{12, "send_message", `{"detail_type":"group","group_id":"!room:example.org","message":"hi","matrix.txn_id":"k12"}`,
			`{"detail_type":"group","group_id":"!room:example.org","message":"other","matrix.txn_id":"k12"}`},
		{11, "send_group_msg", `{"group_id":1,"message":"hi","matrix_txn_id":42}`,
			`{"group_id":1,"message":"hi","matrix_txn_id":"42","matrix_msgtype":"m.notice"}`},
	} {
		before := len(bot.Sent())
		for i := range 2 {
			data, err := runAction(t, h, tc.version, tc.name, tc.params)
			if err != nil {
				t.Fatalf("v%d %s try %d: %v", tc.version, tc.name, i+1, err)
			}
			id := jsonObject(t, data)["message_id"]
			if i == 0 {
				first[tc.version] = id
			} else if id != first[tc.version] {
				t.Fatalf("v%d retry answered %v, want %v", tc.version, id, first[tc.version])
			}
		}
		if n := len(bot.Sent()) - before; n != 1 {
			t.Fatalf("v%d: %d sends for one key, want 1", tc.version, n)
		}
		if _, err := runAction(t, h, tc.version, tc.name, tc.alt); err == nil || !strings.Contains(err.Error(), "different message") {
			t.Fatalf("v%d: key reused for another message: %v", tc.version, err)
		}
	}
	long, _ := json.Marshal(strings.Repeat("k", onebot.MaxTxnKeyLen+1))
	for _, key := range []string{string(long)} {
		params := `{"detail_type":"group","group_id":"!room:example.org","message":"x","matrix.txn_id":` + key + `}`
		if _, err := runAction(t, h, 12, "send_message", params); err == nil || !strings.Contains(err.Error(), "matrix.txn_id") {
			t.Fatalf("key %.20s: %v", key, err)
		}
	}
}

// An event pushed twice to an HTTP POST receiver that answers with a quick reply both times
// gets one reply in the room: the reply's idempotency key comes from the event.
func TestQuickReplyToTheSameEventIsSentOnce(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	seedIDs(t, db)
	event := []byte(`{"post_type":"message","message_type":"group","group_id":1,"user_id":2,"message_id":5}`)
	for range 2 {
		h.calls.Reply(t.Context(), 11, h.reg.defaultBot(), event, []byte(`{"reply":"pong"}`), h.log)
	}
	if n := len(bot.Sent()); n != 1 {
		t.Fatalf("%d replies to one event, want 1", n)
	}
}

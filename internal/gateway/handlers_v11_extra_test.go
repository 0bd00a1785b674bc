package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// The v11 group actions that have a Matrix counterpart call the bot with the Matrix IDs.
func TestV11ModerationActionsCallTheBot(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	ctx := context.Background()
	room, _ := db.IDs().V11ID(ctx, storage.KindRoom, "!room:example.org")
	alice, _ := db.IDs().V11ID(ctx, storage.KindUser, "@alice:example.org")
	self, _ := db.IDs().V11ID(ctx, storage.KindUser, "@bot:example.org")
	r, a := id.RoomID("!room:example.org"), id.UserID("@alice:example.org")
	for _, tc := range []struct {
		action, params string
		want           fakes.FakeCall
	}{
		{"set_group_admin", fmt.Sprintf(`{"group_id":%d,"user_id":%d}`, room, alice), fakes.FakeCall{Method: "SetAdmin", Args: []any{r, a, true}}},
		{"set_group_admin", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"enable":false}`, room, alice), fakes.FakeCall{Method: "SetAdmin", Args: []any{r, a, false}}},
		{"set_group_whole_ban", fmt.Sprintf(`{"group_id":%d}`, room), fakes.FakeCall{Method: "SetWholeMute", Args: []any{r, true}}},
		{"set_group_whole_ban", fmt.Sprintf(`{"group_id":%d,"enable":"false"}`, room), fakes.FakeCall{Method: "SetWholeMute", Args: []any{r, false}}},
		{"set_group_card", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"card":" Helper "}`, room, self), fakes.FakeCall{Method: "SetOwnRoomName", Args: []any{r, "Helper"}}},
	} {
		before := len(bot.Actions.Calls())
		if _, err := runAction(t, h, 11, tc.action, tc.params); err != nil {
			t.Fatalf("%s %s: %v", tc.action, tc.params, err)
		}
		calls := bot.Actions.Calls()
		if len(calls) != before+1 || !reflect.DeepEqual(calls[before], tc.want) {
			t.Fatalf("%s %s: calls %+v, want %+v", tc.action, tc.params, calls[before:], tc.want)
		}
	}
	// Another user's card cannot be set on Matrix.
	_, err := runAction(t, h, 11, "set_group_card", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"card":"x"}`, room, alice))
	if code, _ := v11Retcode(err); code != v11BadRequest {
		t.Fatalf("set_group_card for another user: %v", err)
	}
}

func TestV11HonorInfoAndCanSend(t *testing.T) {
	h, _, db := newTestHub(t, "")
	room, _ := db.IDs().V11ID(context.Background(), storage.KindRoom, "!room:example.org")
	data, err := runAction(t, h, 11, "get_group_honor_info", fmt.Sprintf(`{"group_id":%d,"type":"all"}`, room))
	if err != nil {
		t.Fatal(err)
	}
	m := jsonObject(t, data)
	for _, k := range []string{"talkative_list", "performer_list", "legend_list", "strong_newbie_list", "emotion_list"} {
		if l, ok := m[k].([]any); !ok || len(l) != 0 {
			t.Fatalf("%s = %#v, want an empty list", k, m[k])
		}
	}
	if _, err := runAction(t, h, 11, "get_group_honor_info", `{"group_id":999}`); err == nil {
		t.Fatal("honor info of an unknown group")
	}
	for _, a := range []string{"can_send_image", "can_send_record"} {
		data, err := runAction(t, h, 11, a, `{}`)
		if err != nil || jsonObject(t, data)["yes"] != false { // this hub has no media
			t.Fatalf("%s: %v %v", a, data, err)
		}
	}
}

// .handle_quick_operation runs a quick operation on the event it is given.
func TestV11HandleQuickOperation(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	seedIDs(t, db)
	params := `{"context":{"post_type":"message","message_type":"group","group_id":1,"user_id":2,"message_id":5},
		"operation":{"reply":"pong","at_sender":false}}`
	if _, err := runAction(t, h, 11, ".handle_quick_operation", params); err != nil {
		t.Fatal(err)
	}
	sent := bot.Sent()
	if len(sent) != 1 || sent[0].To.RoomID != "!room:example.org" || sent[0].Segments[0] != model.Segment(model.Text{Text: "pong"}) {
		t.Fatalf("sent %+v", sent)
	}
	for _, bad := range []string{`{"operation":{"reply":"x"}}`, `{"context":{"post_type":"message"}}`,
		`{"context":{"post_type":"notice"},"operation":{"reply":"x"}}`} {
		if _, err := runAction(t, h, 11, ".handle_quick_operation", bad); err == nil {
			t.Fatalf("%s: no error", bad)
		}
	}
}

// The _async and _rate_limited forms of a v11 action answer at once with status async and run
// the action in the background; an unknown action stays unknown with a suffix.
func TestV11AsyncAndRateLimitedSuffixes(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	seedIDs(t, db)
	for i, name := range []string{"send_group_msg_async", "send_group_msg_rate_limited", "send_group_msg_rate_limited"} {
		raw := h.calls.Frame(context.Background(), 11, h.reg.defaultBot(), []byte(fmt.Sprintf(`{"action":%q,"params":{"group_id":1,"message":"m%d"},"echo":%d}`, name, i, i)))
		var resp map[string]any
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatal(err)
		}
		if resp["status"] != "async" || resp["retcode"] != float64(1) || resp["echo"] != float64(i) {
			t.Fatalf("%s: %s", name, raw)
		}
	}
	waitUntil(t, "the three background sends", func() bool { return len(bot.Sent()) == 3 })
	raw := string(h.calls.Frame(context.Background(), 11, h.reg.defaultBot(), []byte(`{"action":"no_such_action_async","params":{}}`)))
	if !strings.Contains(raw, `"retcode":1404`) {
		t.Fatalf("unknown action with a suffix: %s", raw)
	}
}

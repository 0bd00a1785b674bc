package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// runAction runs one action as a client would, through the action table.
func runAction(t *testing.T, h *Hub, version int, name, params string) (any, error) {
	t.Helper()
	return h.calls.Run(context.Background(), version, h.reg.defaultBot(), name, json.RawMessage(params))
}

// jsonObject is an action's data as a client reads it: marshalled, then decoded into a map.
func jsonObject(t *testing.T, data any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("data %s is not a JSON object: %v", raw, err)
	}
	return m
}

// Each action decodes its params and calls the bot with the Matrix IDs they name; the v11 forms
// map numbers back through the persistent ID map.
func TestRoomActionsCallTheBot(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	ctx := context.Background()
	room, _ := db.IDs().V11ID(ctx, storage.KindRoom, "!room:example.org")
	alice, _ := db.IDs().V11ID(ctx, storage.KindUser, "@alice:example.org")
	msg, _ := db.IDs().V11ID(ctx, storage.KindEvent, "$ev1:example.org")
	cases := []struct {
		version int
		action  string
		params  string
		want    fakes.FakeCall
	}{
		{12, "delete_message", `{"message_id":"$ev1:example.org"}`, fakes.FakeCall{Method: "DeleteMessage", Args: []any{id.RoomID(""), id.EventID("$ev1:example.org"), ""}}},
		{12, "delete_message", `{"message_id":"$ev1:example.org","group_id":"!room:example.org","matrix.reason":"spam"}`, fakes.FakeCall{Method: "DeleteMessage", Args: []any{id.RoomID("!room:example.org"), id.EventID("$ev1:example.org"), "spam"}}},
		{11, "delete_msg", fmt.Sprintf(`{"message_id":%d}`, msg), fakes.FakeCall{Method: "DeleteMessage", Args: []any{id.RoomID(""), id.EventID("$ev1:example.org"), ""}}},
		{12, "set_group_name", `{"group_id":"!room:example.org","group_name":"New"}`, fakes.FakeCall{Method: "SetGroupName", Args: []any{id.RoomID("!room:example.org"), "New"}}},
		{11, "set_group_name", fmt.Sprintf(`{"group_id":"%d","group_name":"New"}`, room), fakes.FakeCall{Method: "SetGroupName", Args: []any{id.RoomID("!room:example.org"), "New"}}},
		{12, "leave_group", `{"group_id":"!room:example.org"}`, fakes.FakeCall{Method: "LeaveGroup", Args: []any{id.RoomID("!room:example.org")}}},
		{11, "set_group_leave", fmt.Sprintf(`{"group_id":%d}`, room), fakes.FakeCall{Method: "LeaveGroup", Args: []any{id.RoomID("!room:example.org")}}},
		{12, "matrix.kick", `{"group_id":"!room:example.org","user_id":"@alice:example.org","reason":"r"}`, fakes.FakeCall{Method: "Kick", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), "r"}}},
		{11, "set_group_kick", fmt.Sprintf(`{"group_id":%d,"user_id":%d}`, room, alice), fakes.FakeCall{Method: "Kick", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), ""}}},
		{11, "set_group_kick", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"reject_add_request":true}`, room, alice), fakes.FakeCall{Method: "Ban", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), ""}}},
		// set_group_ban is a mute (never a ban): 1800 s by default, 0 lifts it.
		{11, "set_group_ban", fmt.Sprintf(`{"group_id":%d,"user_id":%d}`, room, alice), fakes.FakeCall{Method: "Mute", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), 30 * time.Minute}}},
		{11, "set_group_ban", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"duration":60}`, room, alice), fakes.FakeCall{Method: "Mute", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), time.Minute}}},
		{11, "set_group_ban", fmt.Sprintf(`{"group_id":%d,"user_id":%d,"duration":0}`, room, alice), fakes.FakeCall{Method: "Mute", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), time.Duration(0)}}},
		{12, "matrix.mute", `{"group_id":"!room:example.org","user_id":"@alice:example.org","duration":5}`, fakes.FakeCall{Method: "Mute", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), 5 * time.Second}}},
		{12, "matrix.ban", `{"group_id":"!room:example.org","user_id":"@alice:example.org"}`, fakes.FakeCall{Method: "Ban", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), ""}}},
		{12, "matrix.unban", `{"group_id":"!room:example.org","user_id":"@alice:example.org"}`, fakes.FakeCall{Method: "Unban", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org")}}},
		{11, "set_group_add_request", `{"flag":"!room:example.org","sub_type":"invite"}`, fakes.FakeCall{Method: "AnswerInvite", Args: []any{id.RoomID("!room:example.org"), true, ""}}},
		{11, "set_group_add_request", `{"flag":"!room:example.org","sub_type":"invite","approve":false,"reason":"no"}`, fakes.FakeCall{Method: "AnswerInvite", Args: []any{id.RoomID("!room:example.org"), false, "no"}}},
		{11, "set_friend_add_request", `{"flag":"!dm:example.org","approve":"true"}`, fakes.FakeCall{Method: "AnswerInvite", Args: []any{id.RoomID("!dm:example.org"), true, ""}}},
		{12, "matrix.accept_invite", `{"group_id":"!room:example.org"}`, fakes.FakeCall{Method: "AnswerInvite", Args: []any{id.RoomID("!room:example.org"), true, ""}}},
		{12, "matrix.decline_invite", `{"group_id":"!room:example.org","reason":"no"}`, fakes.FakeCall{Method: "AnswerInvite", Args: []any{id.RoomID("!room:example.org"), false, "no"}}},
		{12, "matrix.react", `{"message_id":"$ev1:example.org","key":"👍"}`, fakes.FakeCall{Method: "React", Args: []any{id.RoomID(""), id.EventID("$ev1:example.org"), "👍"}}},
		{12, "matrix.react", `{"message_id":"$ev1:example.org","key":"👍","encrypted":true}`, fakes.FakeCall{Method: "React", Args: []any{id.RoomID(""), id.EventID("$ev1:example.org"), "👍", model.ReactOptions{Encrypted: ptr(true)}}}},
		{12, "matrix.react", `{"message_id":"$ev1:example.org","key":"👍","encrypted":false}`, fakes.FakeCall{Method: "React", Args: []any{id.RoomID(""), id.EventID("$ev1:example.org"), "👍", model.ReactOptions{Encrypted: ptr(false)}}}},
		{12, "matrix.set_typing", `{"group_id":"!room:example.org"}`, fakes.FakeCall{Method: "SetTyping", Args: []any{id.RoomID("!room:example.org"), true, 30 * time.Second}}},
		{12, "matrix.set_typing", `{"group_id":"!room:example.org","typing":false,"timeout":5000}`, fakes.FakeCall{Method: "SetTyping", Args: []any{id.RoomID("!room:example.org"), false, 5 * time.Second}}},
		{12, "matrix.mark_read", `{"group_id":"!room:example.org","message_id":"$ev1:example.org"}`, fakes.FakeCall{Method: "MarkRead", Args: []any{id.RoomID("!room:example.org"), id.EventID("$ev1:example.org")}}},
		{12, "matrix.join_room", `{"room":"#lobby:example.org"}`, fakes.FakeCall{Method: "JoinRoom", Args: []any{"#lobby:example.org"}}},
		{12, "matrix.invite", `{"group_id":"!room:example.org","user_id":"@alice:example.org"}`, fakes.FakeCall{Method: "Invite", Args: []any{id.RoomID("!room:example.org"), id.UserID("@alice:example.org"), ""}}},
		{12, "matrix.create_room", `{"name":"N","invite":["@alice:example.org"],"is_direct":true,"preset":"trusted_private_chat"}`, fakes.FakeCall{Method: "CreateRoom", Args: []any{model.CreateRoom{Name: "N", Invite: []id.UserID{"@alice:example.org"}, IsDirect: true, Preset: "trusted_private_chat"}}}},
		{12, "matrix.create_room", `{"name":"N","encrypted":false}`, fakes.FakeCall{Method: "CreateRoom", Args: []any{model.CreateRoom{Name: "N", Encrypted: ptr(false)}}}},
		{12, "matrix.create_room", `{"name":"N","encrypted":"true"}`, fakes.FakeCall{Method: "CreateRoom", Args: []any{model.CreateRoom{Name: "N", Encrypted: ptr(true)}}}},
		{12, "matrix.get_room_state", `{"group_id":"!room:example.org","event_type":"m.room.name"}`, fakes.FakeCall{Method: "RoomState", Args: []any{id.RoomID("!room:example.org"), "m.room.name", ""}}},
		{12, "matrix.send_state_event", `{"group_id":"!room:example.org","event_type":"m.room.topic","content":{"topic":"t"}}`, fakes.FakeCall{Method: "SendState", Args: []any{id.RoomID("!room:example.org"), "m.room.topic", "", `{"topic":"t"}`}}},
		{12, "matrix.raw_request", `{"method":"GET","path":"/_matrix/client/v3/account/whoami","query":{"a":"b"}}`, fakes.FakeCall{Method: "RawRequest", Args: []any{"GET", "/_matrix/client/v3/account/whoami", "map[a:b]", ""}}},
	}
	for _, tc := range cases {
		before := len(bot.Actions.Calls())
		if _, err := runAction(t, h, tc.version, tc.action, tc.params); err != nil {
			t.Errorf("v%d %s %s: %v", tc.version, tc.action, tc.params, err)
			continue
		}
		calls := bot.Actions.Calls()
		if len(calls) != before+1 || !reflect.DeepEqual(calls[len(calls)-1], tc.want) {
			t.Errorf("v%d %s %s: bot got %#v, want %#v", tc.version, tc.action, tc.params, calls[before:], tc.want)
		}
	}
}

// The read actions answer in each version's shape; v11 numbers map to the same Matrix IDs.
func TestRoomActionsAnswer(t *testing.T) {
	h, _, db := newTestHub(t, "")
	ctx := context.Background()
	room, _ := db.IDs().V11ID(ctx, storage.KindRoom, "!room:example.org")
	alice, _ := db.IDs().V11ID(ctx, storage.KindUser, "@alice:example.org")
	for _, tc := range []struct {
		version        int
		action, params string
		want           string
	}{
		{12, "get_group_member_list", `{"group_id":"!room:example.org"}`, `[{"matrix.power_level":100,"matrix.role":"owner","user_displayname":"Alice","user_id":"@alice:example.org","user_name":"alice"},{"matrix.power_level":0,"matrix.role":"member","user_displayname":"bot","user_id":"@bot:example.org","user_name":"bot"}]`},
		{12, "get_group_info", `{"group_id":"!room:example.org"}`, `{"group_id":"!room:example.org","group_name":"Room","matrix.member_count":2}`},
		{12, "get_friend_list", `{}`, `[{"matrix.room_id":"!dm:example.org","user_displayname":"Alice","user_id":"@alice:example.org","user_name":"alice","user_remark":""}]`},
		{12, "get_user_info", `{"user_id":"@alice:example.org"}`, `{"matrix.avatar_url":"","user_displayname":"alice","user_id":"@alice:example.org","user_name":"alice","user_remark":""}`},
		{12, "matrix.get_room_state", `{"group_id":"!room:example.org"}`, `{"events":[{"type":"m.room.name","state_key":"","content":{"name":"Room"}}]}`},
		{11, "get_group_list", `{}`, fmt.Sprintf(`[{"group_id":%d,"group_name":"Room","matrix_room_id":"!room:example.org","max_member_count":0,"member_count":2}]`, room)},
		{11, "get_stranger_info", fmt.Sprintf(`{"user_id":%d}`, alice), fmt.Sprintf(`{"age":0,"matrix_avatar_url":"","matrix_user_id":"@alice:example.org","nickname":"alice","sex":"unknown","user_id":%d}`, alice)},
	} {
		data, err := runAction(t, h, tc.version, tc.action, tc.params)
		if err != nil {
			t.Errorf("v%d %s: %v", tc.version, tc.action, err)
			continue
		}
		got, _ := json.Marshal(data)
		var a, b any
		_ = json.Unmarshal(got, &a)
		_ = json.Unmarshal([]byte(tc.want), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("v%d %s:\n got %s\nwant %s", tc.version, tc.action, got, tc.want)
		}
	}
	// get_group_member_info in v11 carries the role and the power level.
	data, err := runAction(t, h, 11, "get_group_member_info", fmt.Sprintf(`{"group_id":%d,"user_id":%d}`, room, alice))
	if err != nil {
		t.Fatal(err)
	}
	m := jsonObject(t, data)
	if m["role"] != "admin" || m["matrix_power_level"] != float64(50) || m["user_id"] != float64(alice) || m["group_id"] != float64(room) {
		t.Fatalf("get_group_member_info: %v", m)
	}
}

// Bad params are the client's fault (10003 / 1400); unknown v11 numbers are not found; a
// homeserver refusal keeps its Matrix errcode and maps to 34001 / failed.
func TestRoomActionErrors(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	for _, tc := range []struct {
		version        int
		action, params string
		v12, v11       int
	}{
		{12, "delete_message", `{"message_id":"ev1"}`, v12BadParam, v11BadRequest},
		{12, "delete_message", `{"message_id":7}`, v12BadParam, v11BadRequest},
		{12, "get_group_info", `{"group_id":"room"}`, v12BadParam, v11BadRequest},
		{12, "matrix.kick", `{"group_id":"!room:example.org","user_id":"alice"}`, v12BadParam, v11BadRequest},
		{12, "matrix.react", `{"message_id":"$e"}`, v12BadParam, v11BadRequest},
		{12, "matrix.set_typing", `{"group_id":"!r:x","timeout":-1}`, v12BadParam, v11BadRequest},
		{12, "matrix.join_room", `{"room":"lobby"}`, v12BadParam, v11BadRequest},
		{12, "matrix.create_room", `{"preset":"open"}`, v12BadParam, v11BadRequest},
		{12, "matrix.send_state_event", `{"group_id":"!r:x","event_type":"m.room.topic","content":"x"}`, v12BadParam, v11BadRequest},
		{11, "delete_msg", `{"message_id":424242}`, v12NotFound, v11Failed},
		{11, "set_group_kick", `{"group_id":0,"user_id":1}`, v12BadParam, v11BadRequest},
		{11, "set_group_ban", `{"group_id":1,"user_id":1,"duration":-5}`, v12NotFound, v11Failed},
		{12, "matrix.mute", `{"group_id":"!room:example.org","user_id":"@alice:example.org","duration":-5}`, v12BadParam, v11BadRequest},
		{12, "matrix.mute", `{"group_id":"!room:example.org","user_id":"@alice:example.org","duration":2592001}`, v12BadParam, v11BadRequest},
		{11, "set_group_add_request", `{"flag":"x"}`, v12BadParam, v11BadRequest},
		{11, "set_group_add_request", `{"flag":"!r:x","sub_type":"add"}`, v12BadParam, v11BadRequest},
	} {
		_, err := runAction(t, h, tc.version, tc.action, tc.params)
		if err == nil {
			t.Errorf("v%d %s %s: no error", tc.version, tc.action, tc.params)
			continue
		}
		c12, _ := v12Retcode(err)
		c11, _ := v11Retcode(err)
		if (tc.version == 12 && c12 != tc.v12) || (tc.version == 11 && c11 != tc.v11) {
			t.Errorf("v%d %s %s: retcodes %d/%d (%v), want %d/%d", tc.version, tc.action, tc.params, c12, c11, err, tc.v12, tc.v11)
		}
	}
	bot.Actions.FailWith(&model.ActionError{Kind: model.ErrPlatform, Message: "failed to kick: not allowed", MatrixErr: "M_FORBIDDEN"})
	_, err := runAction(t, h, 12, "matrix.kick", `{"group_id":"!room:example.org","user_id":"@alice:example.org"}`)
	code, msg := v12Retcode(err)
	var ae *model.ActionError
	if code != v12PlatformRefused || !errors.As(err, &ae) || ae.MatrixErr != "M_FORBIDDEN" || !strings.Contains(msg, "M_FORBIDDEN") {
		t.Fatalf("refusal: %d %q", code, msg)
	}
	if c, _ := v11Retcode(err); c != v11Failed {
		t.Fatalf("v11 refusal: retcode %d", c)
	}
}

// Params of every room action come from untrusted clients: decoding never panics and every
// failure is a classified error (a protocol error or an ActionError), never a bare one.
func FuzzRoomActionParams(f *testing.F) {
	var names []string
	for _, a := range actionTable {
		if a.NeedsBot && a.Name != "send_message" && a.Name != "send_msg" && a.Name != "send_group_msg" && a.Name != "send_private_msg" {
			names = append(names, fmt.Sprintf("%d %s", a.Version, a.Name))
		}
	}
	for i, s := range []string{`{}`, `null`, `{"group_id":"!r:x","user_id":"@a:x","message_id":"$e"}`, `{"group_id":1,"user_id":"2","message_id":3,"duration":"0"}`,
		`{"flag":"!r:x","approve":"false"}`, `{"path":"/_matrix/client/../../x","body":{}}`, `{"content":[],"event_type":""}`, `{"invite":[1]}`, `{"typing":"maybe"}`} {
		f.Add(uint8(i), []byte(s))
	}
	h, _, db := newTestHub(f, "")
	_, _ = db.IDs().V11ID(context.Background(), storage.KindRoom, "!room:example.org")
	f.Fuzz(func(t *testing.T, which uint8, params []byte) {
		var version int
		var name string
		fmt.Sscanf(names[int(which)%len(names)], "%d %s", &version, &name)
		_, err := h.calls.Run(context.Background(), version, h.reg.defaultBot(), name, params)
		if err == nil {
			return
		}
		var pe *protoError
		var ae *model.ActionError
		if !errors.As(err, &pe) && !errors.As(err, &ae) {
			t.Fatalf("%s %q: unclassified error %v", name, params, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

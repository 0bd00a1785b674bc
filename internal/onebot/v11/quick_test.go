package v11

import (
	"sort"
	"testing"
)

// Quick operations come from the HTTP POST endpoint: decoding and mapping never panic.
func FuzzQuickOperation(f *testing.F) {
	for _, s := range []string{`{"reply":"hi"}`, `{"reply":[{"type":"text","data":{"text":"x"}}],"at_sender":"false","delete":1}`, `{"kick":true,"ban":"true","ban_duration":"9"}`, `{"approve":true}`, `{"reply":"[CQ:at"}`, `[]`, `null`} {
		f.Add([]byte(s), "group")
	}
	f.Fuzz(func(t *testing.T, body []byte, msgType string) {
		op, err := DecodeQuickOperation(body)
		if err != nil {
			return
		}
		_, _, _ = QuickSteps(QuickContext{PostType: "message", MessageType: msgType, GroupID: 1, UserID: 2, MessageID: 3}, op)
		_, _, _ = QuickSteps(QuickContext{PostType: "request", RequestType: msgType, Flag: "f"}, op)
	})
}

func TestQuickSteps(t *testing.T) {
	group := QuickContext{PostType: "message", MessageType: "group", GroupID: 3, UserID: 2, MessageID: 7}
	private := QuickContext{PostType: "message", MessageType: "private", UserID: 2, MessageID: 8}
	friendReq := QuickContext{PostType: "request", RequestType: "friend", Flag: "f1"}
	for _, tc := range []struct {
		name    string
		ev      QuickContext
		op      string
		actions []string
		ignored []string
	}{
		{"group reply at sender", group, `{"reply":"hi"}`, []string{"send_msg"}, nil},
		{"private reply, delete", private, `{"reply":[{"type":"text","data":{"text":"x"}}],"delete":true}`, []string{"send_msg", "delete_msg"}, nil},
		{"kick and ban in a group", group, `{"kick":true,"ban":true,"ban_duration":60}`, []string{"set_group_kick", "set_group_ban"}, nil},
		{"kick in private is ignored", private, `{"kick":true}`, nil, []string{"kick"}},
		{"approve a friend", friendReq, `{"approve":true,"remark":"hi"}`, []string{"set_friend_add_request"}, nil},
		{"unknown key", group, `{"frobnicate":1}`, nil, []string{"frobnicate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := DecodeQuickOperation([]byte(tc.op))
			if err != nil {
				t.Fatal(err)
			}
			steps, ignored, err := QuickSteps(tc.ev, op)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, s := range steps {
				actions = append(actions, s.Action)
			}
			if !equalStrings(actions, tc.actions) || !equalStrings(ignored, tc.ignored) {
				t.Fatalf("actions %v ignored %v, want %v and %v", actions, ignored, tc.actions, tc.ignored)
			}
		})
	}
	op, _ := DecodeQuickOperation([]byte(`{"reply":"hi","at_sender":false}`))
	steps, _, _ := QuickSteps(group, op)
	if segs := steps[0].Params["message"].([]Segment); len(segs) != 1 || steps[0].Params["group_id"] != int64(3) {
		t.Fatalf("at_sender false: %+v", steps[0].Params)
	}
	if _, err := DecodeQuickOperation([]byte(`[1]`)); err == nil {
		t.Fatal("a list was taken as a quick operation")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A v11 HTTP POST reply (quick operation) acts only on the event it answers: keys that would
// name another group, user, message or bot are ignored, never used.
func TestQuickOperationActsOnlyOnTheEvent(t *testing.T) {
	ev := QuickContext{PostType: "message", MessageType: "group", GroupID: 3, UserID: 2, MessageID: 7}
	op, err := DecodeQuickOperation([]byte(`{"reply":"hi","delete":true,"kick":true,"group_id":99,"user_id":42,"message_id":5,"self_id":10002,"Group_ID":98}`))
	if err != nil {
		t.Fatal(err)
	}
	steps, ignored, err := QuickSteps(ev, op)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Fatalf("steps %+v, want reply, delete and kick", steps)
	}
	for _, s := range steps {
		for key, want := range map[string]int64{"group_id": 3, "user_id": 2, "message_id": 7} {
			if v, ok := s.Params[key]; ok && v != want {
				t.Errorf("%s: %s = %v, want the event's %d", s.Action, key, v, want)
			}
		}
	}
	if !equalStrings(sortedCopy(ignored), []string{"Group_ID", "group_id", "message_id", "self_id", "user_id"}) {
		t.Errorf("ignored %v, want every key naming a target", ignored)
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

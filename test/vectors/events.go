package vectors

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Golden compares got with testdata/name (JSON, compared after indenting both); -update
// rewrites the file.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if Updating() {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", name, pretty.Bytes(), want)
	}
}

// SampleMessage is the message event of the codecs' golden files (testdata/v1?_message_*.json).
func SampleMessage(direct bool) *model.Event {
	return &model.Event{
		ID: "$ev1:example.org", Time: time.UnixMilli(1700000000123), Self: "@bot:example.org", Kind: model.KindMessage,
		Message: &model.Message{
			EventID: "$ev1:example.org", RoomID: "!room:example.org", Sender: "@alice:example.org", SenderName: "Alice",
			SenderRole: model.RoleAdmin, Direct: direct, MsgType: "m.text", Plain: "@bot:example.org hi [CQ:at,qq=all]",
			Segments: []model.Segment{
				model.Reply{Event: "$ev0:example.org", Sender: "@bob:example.org"},
				model.Mention{User: "@bot:example.org"},
				model.Text{Text: " hi [CQ:at,qq=all]"},
				model.MentionAll{},
			},
		},
	}
}

// NoticeSamples is one event of every non-message kind, in a group room and (where it differs)
// in a direct room; the golden files testdata/{v11,v12}_notice_<name>.json hold their encodings.
func NoticeSamples() map[string]*model.Event {
	at := time.UnixMilli(1700000000123)
	ev := func(id string, kind model.Kind) *model.Event {
		return &model.Event{ID: id, Time: at, Self: "@bot:example.org", Kind: kind}
	}
	out := map[string]*model.Event{}
	member := func(name string, change model.MemberChangeKind, user, op string, direct bool) {
		e := ev("$m_"+name+":example.org", model.KindMember)
		e.Member = &model.MemberChange{EventID: id.EventID("$m_" + name + ":example.org"), RoomID: "!room:example.org", UserID: id.UserID(user), Operator: id.UserID(op), Change: change, Direct: direct}
		out["member_"+name] = e
	}
	member("join", model.MemberJoin, "@alice:example.org", "@alice:example.org", false)
	member("invite", model.MemberInvite, "@alice:example.org", "@bob:example.org", false)
	member("leave", model.MemberLeave, "@alice:example.org", "@alice:example.org", false)
	member("kick", model.MemberKick, "@alice:example.org", "@bob:example.org", false)
	member("kick_me", model.MemberKick, "@bot:example.org", "@bob:example.org", false)
	member("ban", model.MemberBan, "@alice:example.org", "@bob:example.org", false)
	member("direct_join", model.MemberJoin, "@alice:example.org", "@alice:example.org", true)
	member("direct_leave", model.MemberLeave, "@alice:example.org", "@alice:example.org", true)

	for _, direct := range []bool{false, true} {
		name := "group"
		if direct {
			name = "private"
		}
		d := ev("$redaction:example.org", model.KindDelete)
		d.Delete = &model.Deletion{EventID: "$redaction:example.org", RoomID: "!room:example.org", MessageID: "$ev1:example.org",
			Sender: "@alice:example.org", Operator: "@bob:example.org", Reason: "spam", Direct: direct}
		out["delete_"+name] = d
		r := ev("$reaction:example.org", model.KindReaction)
		r.Reaction = &model.Reaction{EventID: "$reaction:example.org", RoomID: "!room:example.org", Sender: "@alice:example.org",
			Target: "$ev1:example.org", TargetSender: "@bot:example.org", Key: "👍", Direct: direct}
		out["reaction_"+name] = r
		e := ev("$edit:example.org", model.KindEdit)
		e.Edit = &model.Edit{EventID: "$edit:example.org", RoomID: "!room:example.org", Sender: "@alice:example.org", Target: "$ev1:example.org",
			MsgType: "m.text", Segments: []model.Segment{model.Mention{User: "@bot:example.org"}, model.Text{Text: " fixed [CQ:face,id=1]"}}, Plain: "@bot:example.org fixed [CQ:face,id=1]", Direct: direct}
		out["edit_"+name] = e
		inv := ev("invite:!room:example.org:@alice:example.org", model.KindInvite)
		inv.Invite = &model.Invite{RoomID: "!room:example.org", Inviter: "@alice:example.org", RoomName: "Room", Direct: direct}
		out["invite_"+name] = inv
	}
	d := ev("$recall:example.org", model.KindDelete)
	d.Delete = &model.Deletion{EventID: "$recall:example.org", RoomID: "!room:example.org", MessageID: "$ev1:example.org",
		Sender: "@alice:example.org", Operator: "@alice:example.org"}
	out["delete_group_recall"] = d
	t := ev("typing:!room:example.org:s1", model.KindTyping)
	t.Typing = &model.Typing{RoomID: "!room:example.org", UserIDs: []id.UserID{"@alice:example.org", "@bob:example.org"}}
	out["typing"] = t
	t0 := ev("typing:!room:example.org:s2", model.KindTyping)
	t0.Typing = &model.Typing{RoomID: "!room:example.org", UserIDs: []id.UserID{}}
	out["typing_none"] = t0
	rc := ev("receipt:!room:example.org:@alice:example.org:$ev1:example.org:m.read", model.KindReceipt)
	rc.Receipt = &model.Receipt{RoomID: "!room:example.org", EventID: "$ev1:example.org", UserID: "@alice:example.org", Type: "m.read"}
	out["receipt"] = rc
	return out
}

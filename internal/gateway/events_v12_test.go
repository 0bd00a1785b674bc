package gateway

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// noticeSamples is one event of every non-message kind, in a group room and (where it differs)
// in a direct room; the golden files testdata/{v11,v12}_notice_<name>.json hold their encodings.
func noticeSamples() map[string]*model.Event {
	at := time.UnixMilli(1700000000123)
	ev := func(id string, kind model.Kind) *model.Event {
		return &model.Event{ID: id, Time: at, Self: "@bot:example.org", Kind: kind}
	}
	out := map[string]*model.Event{}
	member := func(name string, change model.MemberChangeKind, user, op string, direct bool) {
		e := ev("$m_"+name+":example.org", model.KindMember)
		e.Member = &model.MemberChange{EventID: id.EventID("$m_" + name + ":example.org"), RoomID: "!room:example.org", UserID: idU(user), Operator: idU(op), Change: change, Direct: direct}
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
			MsgType: "m.text", Segments: []model.Segment{model.Mention("@bot:example.org"), model.Text(" fixed [CQ:face,id=1]")}, Plain: "@bot:example.org fixed [CQ:face,id=1]", Direct: direct}
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

func TestEncodeV12Notices(t *testing.T) {
	for name, ev := range noticeSamples() {
		b, err := encodeV12Event(ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden(t, "v12_notice_"+name+".json", b)
	}
}

func TestEncodeV11Notices(t *testing.T) {
	for name, ev := range noticeSamples() {
		db := newTestDB(t)
		seedIDs(t, db)
		b, err := encodeV11Event(context.Background(), db, 10001, ev, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden(t, "v11_notice_"+name+".json", b)
	}
}

func idU(s string) id.UserID { return id.UserID(s) }

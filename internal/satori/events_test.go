package satori

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/satori/element"
)

// Each neutral event kind becomes the Satori event the reference clients expect: their type,
// and the fields nonebot-adapter-satori requires of it (a message with content on every message
// event, a member on guild messages, a guild on reactions).
func TestEventOfKinds(t *testing.T) {
	login := Login{SN: 1, Platform: "matrix", User: &User{ID: "@bot:x"}, Status: StatusOnline, SelfID: "@bot:x"}
	at := time.UnixMilli(1700000000000)
	for _, c := range []struct {
		name string
		ev   model.Event
		want string // the event as JSON, without login, self_id, platform
	}{
		{"edit", model.Event{Kind: model.KindEdit, Edit: &model.Edit{EventID: "$e", RoomID: "!r:x", Sender: "@a:x", Target: "$m",
			Segments: []model.Segment{model.Text{Text: "new"}}}},
			`{"type":"message-updated","timestamp":1700000000000,"channel":{"id":"!r:x","type":0},"guild":{"id":"!r:x"},"member":{},"message":{"id":"$m","content":"new","updated_at":1700000000000},"user":{"id":"@a:x"}}`},
		{"delete in a direct room", model.Event{Kind: model.KindDelete, Delete: &model.Deletion{EventID: "$d", RoomID: "!dm:x", MessageID: "$m", Sender: "@a:x", Operator: "@a:x", Direct: true}},
			`{"type":"message-deleted","timestamp":1700000000000,"channel":{"id":"!dm:x","type":1},"message":{"id":"$m","content":""},"operator":{"id":"@a:x"},"user":{"id":"@a:x"}}`},
		{"reaction", model.Event{Kind: model.KindReaction, Reaction: &model.Reaction{EventID: "$r", RoomID: "!r:x", Sender: "@a:x", Target: "$m", Key: "👍"}},
			`{"type":"reaction-added","timestamp":1700000000000,"channel":{"id":"!r:x","type":0},"guild":{"id":"!r:x"},"message":{"id":"$m","content":""},"user":{"id":"@a:x"},"emoji":{"id":"👍","name":"👍"}}`},
		{"someone joins", model.Event{Kind: model.KindMember, Member: &model.MemberChange{EventID: "$j", RoomID: "!r:x", UserID: "@a:x", Operator: "@a:x", Change: model.MemberJoin}},
			`{"type":"guild-member-added","timestamp":1700000000000,"channel":{"id":"!r:x","type":0},"guild":{"id":"!r:x"},"member":{"user":{"id":"@a:x"}},"operator":{"id":"@a:x"},"user":{"id":"@a:x"}}`},
		{"someone is kicked", model.Event{Kind: model.KindMember, Member: &model.MemberChange{EventID: "$k", RoomID: "!r:x", UserID: "@a:x", Operator: "@o:x", Change: model.MemberKick}},
			`{"type":"guild-member-removed","timestamp":1700000000000,"channel":{"id":"!r:x","type":0},"guild":{"id":"!r:x"},"member":{"user":{"id":"@a:x"}},"operator":{"id":"@o:x"},"user":{"id":"@a:x"}}`},
		{"the bot joins", model.Event{Kind: model.KindMember, Member: &model.MemberChange{EventID: "$b", RoomID: "!r:x", UserID: "@bot:x", Operator: "@a:x", Change: model.MemberInvite}},
			`{"type":"guild-added","timestamp":1700000000000,"channel":{"id":"!r:x","type":0},"guild":{"id":"!r:x"},"member":{"user":{"id":"@bot:x"}},"operator":{"id":"@a:x"},"user":{"id":"@bot:x"}}`},
		{"an invite the bot did not accept", model.Event{Kind: model.KindInvite, Invite: &model.Invite{RoomID: "!r:x", Inviter: "@a:x", RoomName: "Room"}},
			`{"type":"guild-request","timestamp":1700000000000,"guild":{"id":"!r:x","name":"Room"},"message":{"id":"!r:x","content":""},"user":{"id":"@a:x"}}`},
		{"an invite to a direct chat", model.Event{Kind: model.KindInvite, Invite: &model.Invite{RoomID: "!dm:x", Inviter: "@a:x", Direct: true}},
			`{"type":"friend-request","timestamp":1700000000000,"guild":{"id":"!dm:x"},"message":{"id":"!dm:x","content":""},"user":{"id":"@a:x"}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.ev.Time, c.ev.Self = at, "@bot:x"
			se, ok := EventOf(&c.ev, login)
			if !ok {
				t.Fatal("no Satori event")
			}
			se.Login, se.SelfID, se.Platform = nil, "", ""
			var got, want map[string]any
			b := marshal(se)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			delete(got, "login")
			delete(got, "self_id")
			delete(got, "platform")
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			if g, w := marshal(got), marshal(want); string(g) != string(w) {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
	for _, kind := range []model.Event{
		{Kind: model.KindTyping, Typing: &model.Typing{RoomID: "!r:x"}},
		{Kind: model.KindReceipt, Receipt: &model.Receipt{RoomID: "!r:x"}},
	} {
		if _, ok := EventOf(&kind, login); ok {
			t.Errorf("%s: a Satori event, want none", kind.Kind)
		}
	}
}

// An incoming mention carries the display name its pill showed (<at id name/>), escaped; a
// mention without a known name has only its id.
func TestMentionCarriesTheDisplayName(t *testing.T) {
	got := Content([]model.Segment{model.Mention{User: "@a:b", Name: `Alice "<3"`}, model.Text{Text: " hi "}, model.Mention{User: "@c:d"}})
	if want := `<at id="@a:b" name="Alice &quot;&lt;3&quot;"/> hi <at id="@c:d"/>`; got != want {
		t.Fatalf("Content = %s, want %s", got, want)
	}
	els, err := element.Parse(got)
	if err != nil || len(els) != 3 || els[0].Attr("name") != `Alice "<3"` {
		t.Fatalf("parsed back: %+v %v, want the name", els, err)
	}
}

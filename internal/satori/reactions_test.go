package satori

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// reactionBot is a fake bot whose message $m has reactions, served two per page of
// model.ReactionReader (tokens "p1", "p2", …).
type reactionBot struct {
	*fakes.FakeBot
	rs []model.Reaction
}

func (b *reactionBot) Reactions(_ context.Context, room id.RoomID, msg id.EventID, from string) ([]model.Reaction, string, error) {
	if msg != "$m" {
		return nil, "", model.Errorf(model.ErrPlatform, "no message %s", msg)
	}
	i := 0
	if from != "" {
		fmt.Sscanf(from, "p%d", &i)
	}
	end := min(i+2, len(b.rs))
	next := ""
	if end < len(b.rs) {
		next = fmt.Sprintf("p%d", end)
	}
	return b.rs[i:end], next, nil
}

func newReactionFace(t *testing.T) (*testFace, *reactionBot) {
	t.Helper()
	bot := &reactionBot{FakeBot: fakes.NewFakeBot("@bot:example.org")}
	for i, r := range []struct{ sender, key string }{
		{"@alice:example.org", "👍"}, {"@bot:example.org", "👍"}, {"@carol:example.org", "🎉"},
		{"@bot:example.org", "🎉"}, {"@dave:example.org", "👍"},
	} {
		bot.rs = append(bot.rs, model.Reaction{EventID: id.EventID(fmt.Sprintf("$r%d", i)), RoomID: fakes.FakeRoom,
			Sender: id.UserID(r.sender), Target: "$m", Key: r.key})
	}
	f := New(Options{Host: &fakeHost{bots: []model.Bot{bot}}})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return &testFace{face: f, bot: bot.FakeBot, srv: srv}, bot
}

func redacted(bot *fakes.FakeBot) []string {
	var out []string
	for _, c := range bot.Actions.Calls() {
		if c.Method == "DeleteMessage" {
			out = append(out, fmt.Sprint(c.Args[0], " ", c.Args[1]))
		}
	}
	return out
}

// reaction.list pages who reacted with an emoji; reaction.delete redacts the bot's own reaction
// or, with user_id, someone else's; reaction.clear redacts every reaction (of an emoji).
func TestAPIReactions(t *testing.T) {
	tf, _ := newReactionFace(t)
	msg := `"channel_id":"` + string(fakes.FakeRoom) + `","message_id":"$m"`

	var users []string
	next := ""
	for pages := 0; ; pages++ {
		status, resp := tf.post(t, "reaction.list", `{`+msg+`,"emoji_id":"👍","next":"`+next+`"}`, nil)
		var page List[User]
		if status != http.StatusOK || json.Unmarshal(resp, &page) != nil || pages > 3 {
			t.Fatalf("reaction.list: %d %s", status, resp)
		}
		for _, u := range page.Data {
			users = append(users, u.ID)
		}
		if next = page.Next; next == "" {
			break
		}
	}
	if want := []string{"@alice:example.org", "@bot:example.org", "@dave:example.org"}; !reflect.DeepEqual(users, want) {
		t.Fatalf("reaction.list 👍: %v, want %v", users, want)
	}

	if status, resp := tf.post(t, "reaction.delete", `{`+msg+`,"emoji_id":"🎉"}`, nil); status != http.StatusOK {
		t.Fatalf("reaction.delete: %d %s", status, resp)
	}
	if status, resp := tf.post(t, "reaction.delete", `{`+msg+`,"emoji_id":"👍","user_id":"@dave:example.org"}`, nil); status != http.StatusOK {
		t.Fatalf("reaction.delete of dave's: %d %s", status, resp)
	}
	if got, want := redacted(tf.bot), []string{string(fakes.FakeRoom) + " $r3", string(fakes.FakeRoom) + " $r4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("redacted %v, want %v", got, want)
	}
	if status, resp := tf.post(t, "reaction.delete", `{`+msg+`,"emoji_id":"😀"}`, nil); status != http.StatusNotFound || !strings.Contains(string(resp), "no reaction") {
		t.Fatalf("deleting a reaction the bot did not make: %d %s, want 404", status, resp)
	}

	tf2, _ := newReactionFace(t)
	if status, resp := tf2.post(t, "reaction.clear", `{`+msg+`,"emoji_id":"👍"}`, nil); status != http.StatusOK {
		t.Fatalf("reaction.clear 👍: %d %s", status, resp)
	}
	if status, resp := tf2.post(t, "reaction.clear", `{`+msg+`}`, nil); status != http.StatusOK {
		t.Fatalf("reaction.clear: %d %s", status, resp)
	}
	r := string(fakes.FakeRoom) + " $r"
	if got, want := redacted(tf2.bot), []string{r + "0", r + "1", r + "4", r + "0", r + "1", r + "2", r + "3", r + "4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("reaction.clear redacted %v, want %v", got, want)
	}
}

// The reaction methods answer bad parameters with 400 naming them, and a bot that reads no
// reactions with 404.
func TestAPIReactionsBadParams(t *testing.T) {
	tf, _ := newReactionFace(t)
	room := `"channel_id":"` + string(fakes.FakeRoom) + `"`
	for _, c := range []struct{ method, body, want string }{
		{"reaction.list", `{` + room + `,"emoji_id":"👍"}`, "message_id is required"},
		{"reaction.list", `{` + room + `,"message_id":"$m"}`, "emoji_id is required"},
		{"reaction.delete", `{` + room + `,"message_id":"$m"}`, "emoji_id is required"},
		{"reaction.delete", `{"channel_id":"x","message_id":"$m","emoji_id":"a"}`, "Matrix room ID"},
		{"reaction.clear", `{` + room + `}`, "message_id is required"},
	} {
		if status, resp := tf.post(t, c.method, c.body, nil); status != http.StatusBadRequest || !strings.Contains(string(resp), c.want) {
			t.Errorf("%s %s: %d %s, want 400 with %q", c.method, c.body, status, resp, c.want)
		}
	}
	plain := newTestFace(t, Options{})
	if status, resp := plain.post(t, "reaction.list", `{`+room+`,"message_id":"$m","emoji_id":"a"}`, nil); status != http.StatusNotFound || !strings.Contains(string(resp), "reads no reactions") {
		t.Errorf("a bot without reactions: %d %s, want 404", status, resp)
	}
}

// guild.approve and friend.approve answer an invite (a guild-request / friend-request event,
// whose id is the room ID): approve joins, decline rejects with the comment as reason.
func TestAPIRequestApprove(t *testing.T) {
	tf := newTestFace(t, Options{})
	if status, resp := tf.post(t, "guild.approve", `{"message_id":"!r:x","approve":true}`, nil); status != http.StatusOK {
		t.Fatalf("guild.approve: %d %s", status, resp)
	}
	if status, resp := tf.post(t, "friend.approve", `{"message_id":"!dm:x","approve":false,"comment":"no thanks"}`, nil); status != http.StatusOK {
		t.Fatalf("friend.approve: %d %s", status, resp)
	}
	want := []fakes.FakeCall{
		{Method: "AnswerInvite", Args: []any{id.RoomID("!r:x"), true, ""}},
		{Method: "AnswerInvite", Args: []any{id.RoomID("!dm:x"), false, "no thanks"}},
	}
	if got := tf.bot.Actions.Calls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %+v, want %+v", got, want)
	}
	for body, msg := range map[string]string{
		`{"approve":true}`:                    "message_id is required",
		`{"message_id":"x","approve":true}`:   "Matrix room ID",
		`{"message_id":"!r:x"}`:               "approve is required",
		`{"message_id":"!r:x","approve":"y"}`: "not the JSON object",
	} {
		if status, resp := tf.post(t, "guild.approve", body, nil); status != http.StatusBadRequest || !strings.Contains(string(resp), msg) {
			t.Errorf("%s: %d %s, want 400 with %q", body, status, resp, msg)
		}
	}
}

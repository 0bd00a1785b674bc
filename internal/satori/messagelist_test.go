package satori

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// historyBot is a fake bot with a room history of n messages ($h0 oldest … $h{n-1} newest),
// paged by model.HistoryReader with tokens "t{i}" (the position before message i).
type historyBot struct {
	*fakes.FakeBot
	n int

	mu    sync.Mutex
	calls []string
}

func (b *historyBot) History(_ context.Context, room id.RoomID, from string, backward bool, limit int) (model.History, error) {
	b.mu.Lock()
	b.calls = append(b.calls, fmt.Sprintf("%s %q %v %d", room, from, backward, limit))
	b.mu.Unlock()
	pos := b.n // tokens are positions: t{i} lies between message i-1 and message i
	if !backward {
		pos = 0
	}
	if from != "" {
		if _, err := fmt.Sscanf(from, "t%d", &pos); err != nil {
			return model.History{}, model.Errorf(model.ErrPlatform, "bad token %q", from)
		}
	}
	out := model.History{Back: fmt.Sprintf("t%d", pos)}
	for len(out.Events) < limit {
		i := pos
		if backward {
			i = pos - 1
		}
		if i < 0 || i >= b.n {
			break
		}
		if backward {
			pos--
		} else {
			pos++
		}
		evt := id.EventID(fmt.Sprintf("$h%d", i))
		out.Events = append(out.Events, &model.Event{ID: string(evt), Time: time.UnixMilli(int64(1700000000000 + i)), Self: b.ID, Kind: model.KindMessage,
			Message: &model.Message{EventID: evt, RoomID: room, Sender: "@alice:example.org", SenderName: "Alice",
				Segments: []model.Segment{model.Text{Text: fmt.Sprintf("m%d <", i)}}}})
	}
	if (backward && pos > 0) || (!backward && pos < b.n) {
		out.Further = fmt.Sprintf("t%d", pos)
	}
	return out, nil
}

func newHistoryFace(t *testing.T, n int) (*testFace, *historyBot) {
	t.Helper()
	bot := &historyBot{FakeBot: fakes.NewFakeBot("@bot:example.org"), n: n}
	f := New(Options{Host: &fakeHost{bots: []model.Bot{bot}}})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return &testFace{face: f, bot: bot.FakeBot, srv: srv}, bot
}

func listPage(t *testing.T, tf *testFace, body string) BidiList[Message] {
	t.Helper()
	status, resp := tf.post(t, "message.list", body, nil)
	if status != http.StatusOK {
		t.Fatalf("message.list %s: %d %s", body, status, resp)
	}
	var page BidiList[Message]
	if err := json.Unmarshal(resp, &page); err != nil {
		t.Fatalf("message.list %s: %v in %s", body, err, resp)
	}
	return page
}

func ids(msgs []Message) string {
	var s []string
	for _, m := range msgs {
		s = append(s, m.ID)
	}
	return strings.Join(s, ",")
}

// message.list pages a channel's history backward from the newest message with the bot's
// tokens (prev: older, next: newer), oldest first unless order is desc, each message converted
// as message-created events are.
func TestAPIMessageList(t *testing.T) {
	tf, bot := newHistoryFace(t, 5)
	room := `"channel_id":"` + string(fakes.FakeRoom) + `"`

	page := listPage(t, tf, `{`+room+`,"limit":2}`)
	if got := ids(page.Data); got != "$h3,$h4" || page.Prev != "t3" || page.Next != "t5" {
		t.Fatalf("first page %s prev %q next %q, want $h3,$h4 prev t3 next t5", got, page.Prev, page.Next)
	}
	m := page.Data[1]
	if m.Content != "m4 &lt;" || m.User == nil || m.User.ID != "@alice:example.org" || m.Channel == nil || m.Channel.ID != string(fakes.FakeRoom) ||
		m.CreatedAt != 1700000000004 {
		t.Fatalf("message %+v: want content, user, channel and time as in message-created", m)
	}
	page = listPage(t, tf, `{`+room+`,"limit":2,"next":"`+page.Prev+`","direction":"before","order":"desc"}`)
	if got := ids(page.Data); got != "$h2,$h1" || page.Prev != "t1" {
		t.Fatalf("second page (desc) %s prev %q, want $h2,$h1 prev t1", got, page.Prev)
	}
	page = listPage(t, tf, `{`+room+`,"next":"`+page.Prev+`"}`)
	if got := ids(page.Data); got != "$h0" || page.Prev != "" {
		t.Fatalf("last page %s prev %q, want $h0 and no prev", got, page.Prev)
	}
	page = listPage(t, tf, `{`+room+`,"next":"t1","direction":"after","limit":3}`)
	if got := ids(page.Data); got != "$h1,$h2,$h3" || page.Next != "t4" || page.Prev != "t1" {
		t.Fatalf("forward page %s prev %q next %q, want $h1,$h2,$h3 prev t1 next t4", got, page.Prev, page.Next)
	}
	bot.mu.Lock()
	calls := strings.Join(bot.calls, "\n")
	bot.mu.Unlock()
	want := strings.Join([]string{
		string(fakes.FakeRoom) + ` "" true 2`, string(fakes.FakeRoom) + ` "t3" true 2`,
		string(fakes.FakeRoom) + ` "t1" true 100`, string(fakes.FakeRoom) + ` "t1" false 3`,
	}, "\n")
	if calls != want {
		t.Fatalf("History calls\n%s\nwant\n%s", calls, want)
	}
}

// Bad parameters of message.list are 400 naming what is wrong; a bot without history is 404.
func TestAPIMessageListBadParams(t *testing.T) {
	tf, _ := newHistoryFace(t, 1)
	room := `"channel_id":"` + string(fakes.FakeRoom) + `"`
	for body, want := range map[string]string{
		`{}`:                                  "channel_id is required",
		`{"channel_id":"room"}`:               "Matrix room ID",
		`{` + room + `,"direction":"around"}`: "around is not served",
		`{` + room + `,"direction":"up"}`:     "direction must be",
		`{` + room + `,"order":"random"}`:     "order must be",
		`{` + room + `,"limit":0}`:            "limit must be from 1 to 100",
		`{` + room + `,"limit":101}`:          "limit must be from 1 to 100",
	} {
		status, resp := tf.post(t, "message.list", body, nil)
		if status != http.StatusBadRequest || !strings.Contains(string(resp), want) {
			t.Errorf("%s: %d %s, want 400 with %q", body, status, resp, want)
		}
	}
	plain := newTestFace(t, Options{})
	if status, resp := plain.post(t, "message.list", `{`+room+`}`, nil); status != http.StatusNotFound || !strings.Contains(string(resp), "reads no history") {
		t.Errorf("a bot without history: %d %s, want 404", status, resp)
	}
}

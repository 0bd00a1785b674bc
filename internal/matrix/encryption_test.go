package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// These tests run a bot without end-to-end encryption against the fake homeserver, whose /sync
// never delivers m.room.encryption: what the bot knows about a room's encryption comes only from
// asking the homeserver. (Encrypted sends are proved against Synapse with matrix-js-sdk:
// test/e2e/e2ee_send_test.go.)

func loggedIn(t *testing.T, h *harness) *Session {
	t.Helper()
	s := h.session(t, newRecordingSink(), nil)
	if err := s.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

var megolmState = fakes.JSONResponse(http.StatusOK, map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})

func text(s string) []model.Segment { return []model.Segment{model.Text{Text: s}} }

// wantRefused fails unless err is an ActionError of kind whose message contains all of want,
// and nothing was sent.
func wantRefused(t *testing.T, h *harness, err error, kind model.ErrorKind, want ...string) {
	t.Helper()
	var ae *model.ActionError
	if !errors.As(err, &ae) || ae.Kind != kind {
		t.Fatalf("want a %s refusal, got %v (%T)", kind, err, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal %q does not say %q", err, w)
		}
	}
	if sent := h.hs.Sent(); len(sent) != 0 {
		t.Fatalf("a refused send went out: %+v", sent)
	}
}

// A room whose m.room.encryption cannot be read gets nothing: every failure but 404 M_NOT_FOUND
// (a 403, a 404 that is not M_NOT_FOUND, a 5xx after the retries, a dropped connection) refuses
// the send with an error that says why, for text, reactions asked encrypted and raw sends alike.
func TestSendRefusedWhenEncryptionStateUnknown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer fakes.FakeResponse
		kind   model.ErrorKind
		want   string
	}{
		{"forbidden", fakes.MatrixError(http.StatusForbidden, "M_FORBIDDEN", "You are not in the room", nil), model.ErrPlatform, "M_FORBIDDEN"},
		{"unrecognized", fakes.MatrixError(http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized request", nil), model.ErrPlatform, "M_UNRECOGNIZED"},
		{"server error", fakes.MatrixError(http.StatusBadGateway, "M_UNKNOWN", "upstream failed", nil), model.ErrPlatform, "M_UNKNOWN"},
		{"dropped", fakes.FakeResponse{Drop: true}, model.ErrNetwork, "encrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.hs.SetState(roomA, "m.room.encryption", "", tc.answer)
			s := loggedIn(t, h)
			ctx := context.Background()
			_, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("secret"))
			wantRefused(t, h, err, tc.kind, "refusing to send to "+string(roomA), "nothing was sent", tc.want)
			if !errors.Is(err, crypt.ErrEncryptionUnknown) {
				t.Errorf("the refusal does not wrap crypt.ErrEncryptionUnknown: %v", err)
			}
			_, err = s.bot.React(ctx, roomA, "$target", "👍", model.ReactOptions{Encrypted: new(true)})
			wantRefused(t, h, err, tc.kind, "nothing was sent")
			_, err = rawAPI(t, s).RawRequest(ctx, model.RawRequest{Method: "PUT", Path: "/_matrix/client/v3/rooms/" + string(roomA) + "/send/m.room.message/t1",
				Body: json.RawMessage(`{"msgtype":"m.text","body":"secret"}`)})
			wantRefused(t, h, err, tc.kind, "nothing was sent")
		})
	}
}

// 404 M_NOT_FOUND means the room is not encrypted: the message goes out, and the answer is
// remembered (one state request for many sends).
func TestSendToUnencryptedRoomAsksOnce(t *testing.T) {
	h := newHarness(t)
	s := loggedIn(t, h)
	for range 3 {
		if _, err := s.bot.SendMessage(context.Background(), model.Target{RoomID: roomA}, text("hello")); err != nil {
			t.Fatal(err)
		}
	}
	if sent := h.hs.Sent(); len(sent) != 3 || sent[0].Type != "m.room.message" {
		t.Fatalf("sent %+v, want 3 m.room.message", sent)
	}
	if n := len(h.hs.RequestsTo("/rooms/" + string(roomA) + "/state/m.room.encryption/")); n != 1 {
		t.Fatalf("%d requests for m.room.encryption, want 1", n)
	}
}

// An encrypted room that the sync has not told about yet (right after a join) is known from the
// homeserver; a bot without end-to-end encryption refuses to send into it rather than send
// plaintext, on every path but unencrypted reactions (which Element sends unencrypted too).
// A join forgets what was asked before: the room may have become encrypted meanwhile.
func TestEncryptedRoomWithoutE2EEIsRefused(t *testing.T) {
	h := newHarness(t)
	s := loggedIn(t, h)
	ctx := context.Background()
	if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("before")); err != nil { // not encrypted yet
		t.Fatal(err)
	}
	h.hs.SetState(roomA, "m.room.encryption", "", megolmState)
	s.bot.out.policy.Forget(roomA) // what JoinRoom, AnswerInvite and auto-accept do after joining
	before := len(h.hs.Sent())

	_, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("secret"))
	refusedAfter(t, h, before, err, "end-to-end encryption is off")
	_, err = s.bot.React(ctx, roomA, "$target", "👍", model.ReactOptions{Encrypted: new(true)})
	refusedAfter(t, h, before, err, "end-to-end encryption is off")
	_, err = rawAPI(t, s).RawRequest(ctx, model.RawRequest{Method: "PUT", Path: "/_matrix/client/v3/rooms/" + string(roomA) + "/send/m.room.message/t1",
		Body: json.RawMessage(`{"msgtype":"m.text","body":"secret"}`)})
	refusedAfter(t, h, before, err, "end-to-end encryption is off")

	// The default reaction is unencrypted, as in Element: it goes out as m.reaction.
	if _, err := s.bot.React(ctx, roomA, "$target", "👍", model.ReactOptions{}); err != nil {
		t.Fatal(err)
	}
	if sent := h.hs.Sent(); len(sent) != before+1 || sent[before].Type != "m.reaction" {
		t.Fatalf("sent %+v, want the reaction as m.reaction", sent[before:])
	}
}

func refusedAfter(t *testing.T, h *harness, before int, err error, want string) {
	t.Helper()
	var ae *model.ActionError
	if !errors.As(err, &ae) || ae.Kind != model.ErrPlatform || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("want a refusal saying %q, got %v", want, err)
	}
	if sent := h.hs.Sent(); len(sent) != before {
		t.Fatalf("a refused send went out: %+v", sent[before:])
	}
}

// A room encrypted with an algorithm the gateway cannot use gets nothing either.
func TestUnknownEncryptionAlgorithmIsRefused(t *testing.T) {
	h := newHarness(t)
	h.hs.SetState(roomA, "m.room.encryption", "", fakes.JSONResponse(http.StatusOK, map[string]any{"algorithm": "org.example.future"}))
	s := loggedIn(t, h)
	_, err := s.bot.SendMessage(context.Background(), model.Target{RoomID: roomA}, text("secret"))
	wantRefused(t, h, err, model.ErrPlatform, "org.example.future", "nothing was sent")
}

// matrix.create_room with encrypted true for a bot without end-to-end encryption is a bad
// parameter, and no room is created.
func TestCreateEncryptedRoomWithoutE2EEIsBadParam(t *testing.T) {
	h := newHarness(t)
	s := loggedIn(t, h)
	_, err := s.bot.CreateRoom(context.Background(), model.CreateRoom{Name: "secret", Encrypted: new(true)})
	var ae *model.ActionError
	if !errors.As(err, &ae) || ae.Kind != model.ErrBadParam || !strings.Contains(err.Error(), "e2ee") {
		t.Fatalf("want a bad-param error naming e2ee, got %v", err)
	}
	if n := len(h.hs.RequestsTo("/createRoom")); n != 0 {
		t.Fatalf("%d createRoom requests, want none", n)
	}
}

// What the homeserver said about a room's encryption is forgotten when the sync shows the bot
// leaving (it may be joined again later without this process noticing, e.g. by a server
// admin, after the room became encrypted): the next send asks again.
func TestOwnLeaveForgetsEncryptionState(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	s := h.session(t, newRecordingSink(), nil)
	if err := s.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("not encrypted yet")); err != nil {
		t.Fatal(err)
	}
	h.hs.SetState(roomA, "m.room.encryption", "", megolmState)
	leave := map[string]any{
		"type": "m.room.member", "event_id": "$leave", "sender": aliceID, "state_key": string(botID),
		"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"membership": "leave"},
	}
	h.hs.QueueSync(fakes.JSONResponse(http.StatusOK, map[string]any{"next_batch": "s1",
		"rooms": map[string]any{"leave": map[string]any{string(roomA): timeline(leave)}}}))
	start(t, s)
	h.waitSyncSince(t, "s1")
	_, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("secret"))
	refusedAfter(t, h, 1, err, "end-to-end encryption is off")
}

// A join through matrix.raw_request forgets what was asked before too (as JoinRoom does): the
// room may have become encrypted while the bot was out of it, and the next send must not use
// the old "not encrypted" before the sync has shown the join.
func TestRawJoinForgetsEncryptionState(t *testing.T) {
	for _, path := range []string{
		"/_matrix/client/v3/rooms/" + string(roomA) + "/join",
		"/_matrix/client/v3/join/" + string(roomA),
		"/_matrix/client/v3/join/%23alias:example.org",
	} {
		t.Run(path, func(t *testing.T) {
			h := newHarness(t)
			s := loggedIn(t, h)
			ctx := context.Background()
			if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("not encrypted yet")); err != nil {
				t.Fatal(err)
			}
			h.hs.SetState(roomA, "m.room.encryption", "", megolmState)
			if _, err := rawAPI(t, s).RawRequest(ctx, model.RawRequest{Method: "POST", Path: path, Body: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
			_, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("secret"))
			refusedAfter(t, h, 1, err, "end-to-end encryption is off")
		})
	}
}

// withStateStore is a bot whose state store is the database's (as the gateway runs them).
func withStateStore(t *testing.T, h *harness) func(*Options) {
	states := newStateStore(t, h)
	return func(o *Options) { o.StateStore = states }
}

// A send reads the room's encryption state from the database once, not twice per message (before
// building it and when it leaves the queue): once read, sends go out although the state table
// cannot be read any more.
func TestSendReadsStoredEncryptionStateOnce(t *testing.T) {
	h := newHarness(t)
	s := h.session(t, newRecordingSink(), withStateStore(t, h))
	ctx := context.Background()
	if err := s.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.db.SQL().ExecContext(ctx, "ALTER TABLE mx_room_state RENAME TO mx_room_state_away"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("again")); err != nil {
			t.Fatalf("send %d after the first read the state store again: %v", i, err)
		}
	}
	if sent := h.hs.Sent(); len(sent) != 3 {
		t.Fatalf("sent %d events, want 3", len(sent))
	}
}

// What a send read of a room's encryption state from the database holds only until encryption
// state is written there: when the sync stores the room's m.room.encryption, the next send
// knows the room is encrypted (this bot, without end-to-end encryption, refuses it).
func TestStoredEncryptionStateFollowsTheSync(t *testing.T) {
	h := newHarness(t)
	h.setToken(t, "s0")
	s := h.session(t, newRecordingSink(), withStateStore(t, h))
	ctx := context.Background()
	if err := s.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("not encrypted yet")); err != nil {
		t.Fatal(err)
	}
	encryption := map[string]any{
		"type": "m.room.encryption", "event_id": "$enc", "sender": aliceID, "state_key": "",
		"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"},
	}
	h.hs.QueueSync(syncReply("s1", map[id.RoomID]any{roomA: timeline(encryption)}))
	start(t, s)
	h.waitSyncSince(t, "s1")
	_, err := s.bot.SendMessage(ctx, model.Target{RoomID: roomA}, text("secret"))
	refusedAfter(t, h, 1, err, "end-to-end encryption is off")
}

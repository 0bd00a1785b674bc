package fakes

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// FakeCall is one recorded model.RoomActions call: the method name and its arguments.
type FakeCall struct {
	Method string
	Args   []any
}

// FakeActions is the RoomActions half of FakeBot: every call (of the facets' actions too) is
// recorded; reads answer from a tiny fixed world (one room "!room:example.org" with the bot and
// @alice:example.org, a direct room with @alice:example.org).
type FakeActions struct {
	mu    sync.Mutex
	calls []FakeCall
	fail  error
}

// FailWith makes the next RoomActions calls fail with err (nil to succeed again).
func (a *FakeActions) FailWith(err error) {
	a.mu.Lock()
	a.fail = err
	a.mu.Unlock()
}

// Calls returns the recorded RoomActions calls.
func (a *FakeActions) Calls() []FakeCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]FakeCall(nil), a.calls...)
}

func (a *FakeActions) record(method string, args ...any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, FakeCall{Method: method, Args: args})
	return a.fail
}

// FakeRoom is the one room of the fake world.
const FakeRoom id.RoomID = "!room:example.org"

func (b *FakeBot) DeleteMessage(_ context.Context, room id.RoomID, msg id.EventID, reason string) error {
	return b.Actions.record("DeleteMessage", room, msg, reason)
}

func (b *FakeBot) React(_ context.Context, room id.RoomID, msg id.EventID, key string, opts model.ReactOptions) (model.Sent, error) {
	args := []any{room, msg, key}
	if opts != (model.ReactOptions{}) { // recorded only when set, so that plain calls read as before
		args = append(args, opts)
	}
	if err := b.Actions.record("React", args...); err != nil {
		return model.Sent{}, err
	}
	return model.Sent{EventID: "$reaction:example.org", RoomID: FakeRoom, Time: time.UnixMilli(1700000000000)}, nil
}

func (b *FakeBot) UserInfo(_ context.Context, u id.UserID) (model.UserInfo, error) {
	if err := b.Actions.record("UserInfo", u); err != nil {
		return model.UserInfo{}, err
	}
	return model.UserInfo{UserID: u, DisplayName: u.Localpart()}, nil
}

func (b *FakeBot) Friends(context.Context) ([]model.Friend, error) {
	if err := b.Actions.record("Friends"); err != nil {
		return nil, err
	}
	return []model.Friend{{UserID: "@alice:example.org", DisplayName: "Alice", RoomID: "!dm:example.org"}}, nil
}

func (b *FakeBot) Groups(ctx context.Context) ([]model.GroupInfo, error) {
	if err := b.Actions.record("Groups"); err != nil {
		return nil, err
	}
	return []model.GroupInfo{{RoomID: FakeRoom, Name: "Room", MemberCount: 2}}, nil
}

func (b *FakeBot) Group(_ context.Context, room id.RoomID) (model.GroupInfo, error) {
	if err := b.Actions.record("Group", room); err != nil {
		return model.GroupInfo{}, err
	}
	if room != FakeRoom {
		return model.GroupInfo{}, model.Errorf(model.ErrNotFound, "the bot is not in %s", room)
	}
	return model.GroupInfo{RoomID: FakeRoom, Name: "Room", MemberCount: 2}, nil
}

func (b *FakeBot) GroupMembers(_ context.Context, room id.RoomID) ([]model.Member, error) {
	if err := b.Actions.record("GroupMembers", room); err != nil {
		return nil, err
	}
	return []model.Member{
		{RoomID: room, UserID: "@alice:example.org", DisplayName: "Alice", PowerLevel: 100, Role: model.RoleOwner},
		{RoomID: room, UserID: b.ID, DisplayName: b.Name, PowerLevel: 0, Role: model.RoleMember},
	}, nil
}

func (b *FakeBot) GroupMember(_ context.Context, room id.RoomID, u id.UserID) (model.Member, error) {
	if err := b.Actions.record("GroupMember", room, u); err != nil {
		return model.Member{}, err
	}
	return model.Member{RoomID: room, UserID: u, DisplayName: u.Localpart(), PowerLevel: 50, Role: model.RoleAdmin}, nil
}

func (b *FakeBot) SetGroupName(_ context.Context, room id.RoomID, name string) error {
	return b.Actions.record("SetGroupName", room, name)
}

func (b *FakeBot) LeaveGroup(_ context.Context, room id.RoomID) error {
	return b.Actions.record("LeaveGroup", room)
}

func (b *FakeBot) Kick(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.Actions.record("Kick", room, u, reason)
}

func (b *FakeBot) Ban(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.Actions.record("Ban", room, u, reason)
}

func (b *FakeBot) Unban(_ context.Context, room id.RoomID, u id.UserID) error {
	return b.Actions.record("Unban", room, u)
}

// fakeModerator is the FakeBot's moderation facet (model.Muter, model.Moderator): it records the
// calls in the bot's Actions.
type fakeModerator struct{ a *FakeActions }

// fakeRaw is the FakeBot's raw API facet (model.RawAPI): it records the calls in the bot's
// Actions.
type fakeRaw struct{ a *FakeActions }

// Mute implements model.Muter by recording the call.
func (m fakeModerator) Mute(_ context.Context, room id.RoomID, u id.UserID, d time.Duration) error {
	return m.a.record("Mute", room, u, d)
}

// SetAdmin, SetWholeMute and SetOwnRoomName implement model.Moderator by recording the call.
func (m fakeModerator) SetAdmin(_ context.Context, room id.RoomID, u id.UserID, admin bool) error {
	return m.a.record("SetAdmin", room, u, admin)
}

func (m fakeModerator) SetWholeMute(_ context.Context, room id.RoomID, on bool) error {
	return m.a.record("SetWholeMute", room, on)
}

func (m fakeModerator) SetOwnRoomName(_ context.Context, room id.RoomID, name string) error {
	return m.a.record("SetOwnRoomName", room, name)
}

var (
	_ model.Muter     = fakeModerator{}
	_ model.Moderator = fakeModerator{}
	_ model.RawAPI    = fakeRaw{}
)

func (b *FakeBot) AnswerInvite(_ context.Context, room id.RoomID, accept bool, reason string) error {
	return b.Actions.record("AnswerInvite", room, accept, reason)
}

func (b *FakeBot) SetTyping(_ context.Context, room id.RoomID, typing bool, timeout time.Duration) error {
	return b.Actions.record("SetTyping", room, typing, timeout)
}

func (b *FakeBot) MarkRead(_ context.Context, room id.RoomID, msg id.EventID) error {
	return b.Actions.record("MarkRead", room, msg)
}

func (b *FakeBot) JoinRoom(_ context.Context, roomOrAlias string) (id.RoomID, error) {
	if err := b.Actions.record("JoinRoom", roomOrAlias); err != nil {
		return "", err
	}
	return FakeRoom, nil
}

func (b *FakeBot) Invite(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.Actions.record("Invite", room, u, reason)
}

func (b *FakeBot) CreateRoom(_ context.Context, req model.CreateRoom) (id.RoomID, error) {
	if err := b.Actions.record("CreateRoom", req); err != nil {
		return "", err
	}
	return "!new:example.org", nil
}

func (r fakeRaw) RoomState(_ context.Context, room id.RoomID, evtType, stateKey string) (json.RawMessage, error) {
	if err := r.a.record("RoomState", room, evtType, stateKey); err != nil {
		return nil, err
	}
	if evtType == "" {
		return json.RawMessage(`[{"type":"m.room.name","state_key":"","content":{"name":"Room"}}]`), nil
	}
	return json.RawMessage(`{"name":"Room"}`), nil
}

func (r fakeRaw) SendState(_ context.Context, room id.RoomID, evtType, stateKey string, content json.RawMessage) (id.EventID, error) {
	if err := r.a.record("SendState", room, evtType, stateKey, string(content)); err != nil {
		return "", err
	}
	return "$state:example.org", nil
}

func (r fakeRaw) RawRequest(_ context.Context, req model.RawRequest) (model.RawResponse, error) {
	if err := r.a.record("RawRequest", req.Method, req.Path, fmt.Sprint(req.Query), string(req.Body)); err != nil {
		return model.RawResponse{}, err
	}
	return model.RawResponse{Status: 200, Body: json.RawMessage(`{"ok":true}`)}, nil
}

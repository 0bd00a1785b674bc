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

// fakeActions is the RoomActions half of FakeBot: every call is recorded; reads answer from a
// tiny fixed world (one room "!room:example.org" with the bot and @alice:example.org, a direct
// room with @alice:example.org).
type fakeActions struct {
	amu   sync.Mutex
	calls []FakeCall
	afail error
}

// FailActionsWith makes the next RoomActions calls fail with err (nil to succeed again).
func (b *FakeBot) FailActionsWith(err error) {
	b.amu.Lock()
	b.afail = err
	b.amu.Unlock()
}

// Calls returns the recorded RoomActions calls.
func (b *FakeBot) Calls() []FakeCall {
	b.amu.Lock()
	defer b.amu.Unlock()
	return append([]FakeCall(nil), b.calls...)
}

func (b *FakeBot) record(method string, args ...any) error {
	b.amu.Lock()
	defer b.amu.Unlock()
	b.calls = append(b.calls, FakeCall{Method: method, Args: args})
	return b.afail
}

// FakeRoom is the one room of the fake world.
const FakeRoom id.RoomID = "!room:example.org"

func (b *FakeBot) DeleteMessage(_ context.Context, room id.RoomID, msg id.EventID, reason string) error {
	return b.record("DeleteMessage", room, msg, reason)
}

func (b *FakeBot) React(_ context.Context, room id.RoomID, msg id.EventID, key string, opts model.ReactOptions) (model.Sent, error) {
	args := []any{room, msg, key}
	if opts != (model.ReactOptions{}) { // recorded only when set, so that plain calls read as before
		args = append(args, opts)
	}
	if err := b.record("React", args...); err != nil {
		return model.Sent{}, err
	}
	return model.Sent{EventID: "$reaction:example.org", RoomID: FakeRoom, Time: time.UnixMilli(1700000000000)}, nil
}

func (b *FakeBot) UserInfo(_ context.Context, u id.UserID) (model.UserInfo, error) {
	if err := b.record("UserInfo", u); err != nil {
		return model.UserInfo{}, err
	}
	return model.UserInfo{UserID: u, DisplayName: u.Localpart()}, nil
}

func (b *FakeBot) Friends(context.Context) ([]model.Friend, error) {
	if err := b.record("Friends"); err != nil {
		return nil, err
	}
	return []model.Friend{{UserID: "@alice:example.org", DisplayName: "Alice", RoomID: "!dm:example.org"}}, nil
}

func (b *FakeBot) Groups(ctx context.Context) ([]model.GroupInfo, error) {
	if err := b.record("Groups"); err != nil {
		return nil, err
	}
	return []model.GroupInfo{{RoomID: FakeRoom, Name: "Room", MemberCount: 2}}, nil
}

func (b *FakeBot) Group(_ context.Context, room id.RoomID) (model.GroupInfo, error) {
	if err := b.record("Group", room); err != nil {
		return model.GroupInfo{}, err
	}
	if room != FakeRoom {
		return model.GroupInfo{}, model.Errorf(model.ErrNotFound, "the bot is not in %s", room)
	}
	return model.GroupInfo{RoomID: FakeRoom, Name: "Room", MemberCount: 2}, nil
}

func (b *FakeBot) GroupMembers(_ context.Context, room id.RoomID) ([]model.Member, error) {
	if err := b.record("GroupMembers", room); err != nil {
		return nil, err
	}
	return []model.Member{
		{RoomID: room, UserID: "@alice:example.org", DisplayName: "Alice", PowerLevel: 100, Role: model.RoleOwner},
		{RoomID: room, UserID: b.ID, DisplayName: b.Name, PowerLevel: 0, Role: model.RoleMember},
	}, nil
}

func (b *FakeBot) GroupMember(_ context.Context, room id.RoomID, u id.UserID) (model.Member, error) {
	if err := b.record("GroupMember", room, u); err != nil {
		return model.Member{}, err
	}
	return model.Member{RoomID: room, UserID: u, DisplayName: u.Localpart(), PowerLevel: 50, Role: model.RoleAdmin}, nil
}

func (b *FakeBot) SetGroupName(_ context.Context, room id.RoomID, name string) error {
	return b.record("SetGroupName", room, name)
}

func (b *FakeBot) LeaveGroup(_ context.Context, room id.RoomID) error {
	return b.record("LeaveGroup", room)
}

func (b *FakeBot) Kick(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.record("Kick", room, u, reason)
}

func (b *FakeBot) Ban(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.record("Ban", room, u, reason)
}

func (b *FakeBot) Unban(_ context.Context, room id.RoomID, u id.UserID) error {
	return b.record("Unban", room, u)
}

// Mute implements model.Muter by recording the call.
func (b *FakeBot) Mute(_ context.Context, room id.RoomID, u id.UserID, d time.Duration) error {
	return b.record("Mute", room, u, d)
}

// SetAdmin, SetWholeMute and SetOwnRoomName implement model.Moderator by recording the call.
func (b *FakeBot) SetAdmin(_ context.Context, room id.RoomID, u id.UserID, admin bool) error {
	return b.record("SetAdmin", room, u, admin)
}

func (b *FakeBot) SetWholeMute(_ context.Context, room id.RoomID, on bool) error {
	return b.record("SetWholeMute", room, on)
}

func (b *FakeBot) SetOwnRoomName(_ context.Context, room id.RoomID, name string) error {
	return b.record("SetOwnRoomName", room, name)
}

var (
	_ model.Muter     = (*FakeBot)(nil)
	_ model.Moderator = (*FakeBot)(nil)
)

func (b *FakeBot) AnswerInvite(_ context.Context, room id.RoomID, accept bool, reason string) error {
	return b.record("AnswerInvite", room, accept, reason)
}

func (b *FakeBot) SetTyping(_ context.Context, room id.RoomID, typing bool, timeout time.Duration) error {
	return b.record("SetTyping", room, typing, timeout)
}

func (b *FakeBot) MarkRead(_ context.Context, room id.RoomID, msg id.EventID) error {
	return b.record("MarkRead", room, msg)
}

func (b *FakeBot) JoinRoom(_ context.Context, roomOrAlias string) (id.RoomID, error) {
	if err := b.record("JoinRoom", roomOrAlias); err != nil {
		return "", err
	}
	return FakeRoom, nil
}

func (b *FakeBot) Invite(_ context.Context, room id.RoomID, u id.UserID, reason string) error {
	return b.record("Invite", room, u, reason)
}

func (b *FakeBot) CreateRoom(_ context.Context, req model.CreateRoom) (id.RoomID, error) {
	if err := b.record("CreateRoom", req); err != nil {
		return "", err
	}
	return "!new:example.org", nil
}

func (b *FakeBot) RoomState(_ context.Context, room id.RoomID, evtType, stateKey string) (json.RawMessage, error) {
	if err := b.record("RoomState", room, evtType, stateKey); err != nil {
		return nil, err
	}
	if evtType == "" {
		return json.RawMessage(`[{"type":"m.room.name","state_key":"","content":{"name":"Room"}}]`), nil
	}
	return json.RawMessage(`{"name":"Room"}`), nil
}

func (b *FakeBot) SendState(_ context.Context, room id.RoomID, evtType, stateKey string, content json.RawMessage) (id.EventID, error) {
	if err := b.record("SendState", room, evtType, stateKey, string(content)); err != nil {
		return "", err
	}
	return "$state:example.org", nil
}

func (b *FakeBot) RawRequest(_ context.Context, req model.RawRequest) (model.RawResponse, error) {
	if err := b.record("RawRequest", req.Method, req.Path, fmt.Sprint(req.Query), string(req.Body)); err != nil {
		return model.RawResponse{}, err
	}
	return model.RawResponse{Status: 200, Body: json.RawMessage(`{"ok":true}`)}, nil
}

// Package fakes holds thin stand-ins for unit tests where a real peer cannot be had. Everything
// here is a fake: end-to-end tests use a real homeserver and real OneBot clients instead.
package fakes

import (
	"context"
	"fmt"
	"sync"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// FakeBot is a model.Bot that records what it is asked to send.
type FakeBot struct {
	ID   id.UserID
	Name string

	mu     sync.Mutex
	status model.BotStatus
	sent   []FakeSent
	fail   error
	n      int

	fakeActions // bot_actions.go
}

// FakeSent is one recorded SendMessage call.
type FakeSent struct {
	To       model.Target
	Segments []model.Segment
	EventID  id.EventID
}

// NewFakeBot returns a syncing fake bot.
func NewFakeBot(user id.UserID) *FakeBot {
	return &FakeBot{ID: user, Name: user.Localpart(), status: model.BotStatus{State: model.StateSyncing, Since: time.Now()}}
}

func (b *FakeBot) UserID() id.UserID   { return b.ID }
func (b *FakeBot) DisplayName() string { return b.Name }

func (b *FakeBot) Status() model.BotStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// SetStatus changes the reported status.
func (b *FakeBot) SetStatus(st model.BotStatus) {
	b.mu.Lock()
	b.status = st
	b.mu.Unlock()
}

// FailWith makes the next sends fail with err (nil to succeed again).
func (b *FakeBot) FailWith(err error) {
	b.mu.Lock()
	b.fail = err
	b.mu.Unlock()
}

// SendMessage records the call and returns a made-up event ID.
func (b *FakeBot) SendMessage(_ context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return model.Sent{}, b.fail
	}
	b.n++
	evt := id.EventID(fmt.Sprintf("$fake%d:example.org", b.n))
	b.sent = append(b.sent, FakeSent{To: to, Segments: segs, EventID: evt})
	room := to.RoomID
	if room == "" {
		room = "!direct:example.org"
	}
	return model.Sent{EventID: evt, RoomID: room, Time: time.UnixMilli(1700000000000)}, nil
}

// Sent returns the recorded sends.
func (b *FakeBot) Sent() []FakeSent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]FakeSent(nil), b.sent...)
}

var _ model.Bot = (*FakeBot)(nil)

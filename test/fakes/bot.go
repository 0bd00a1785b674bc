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
	keys   map[string]fakeKeyed // idempotency keys (SentWithKey)

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

type fakeKeyed struct {
	hash string
	sent model.Sent
}

// SentWithKey implements model.IdempotentSender in memory: a key seen with the same hash
// answers its first send; with another hash it is an ErrBadParam error.
func (b *FakeBot) SentWithKey(_ context.Context, idem model.Idempotency) (model.Sent, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, ok := b.keys[idem.Key]
	if !ok {
		return model.Sent{}, false, nil
	}
	if k.hash != idem.Hash {
		return model.Sent{}, false, model.Errorf(model.ErrBadParam, "the idempotency key %q was used for a different message", idem.Key)
	}
	return k.sent, true, nil
}

// SendMessageWith records the call as SendMessage does, and the result under an idempotency
// key; the other options are ignored.
func (b *FakeBot) SendMessageWith(ctx context.Context, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	if opts.Idempotency != nil {
		if sent, ok, err := b.SentWithKey(ctx, *opts.Idempotency); err != nil || ok {
			return sent, err
		}
	}
	sent, err := b.SendMessage(ctx, to, segs)
	if err == nil && opts.Idempotency != nil {
		b.mu.Lock()
		if b.keys == nil {
			b.keys = map[string]fakeKeyed{}
		}
		b.keys[opts.Idempotency.Key] = fakeKeyed{opts.Idempotency.Hash, sent}
		b.mu.Unlock()
	}
	return sent, err
}

var (
	_ model.Bot              = (*FakeBot)(nil)
	_ model.RawAPI           = (*FakeBot)(nil)
	_ model.IdempotentSender = (*FakeBot)(nil)
	_ model.OptionSender     = (*FakeBot)(nil)
)

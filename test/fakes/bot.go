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

// FakeBot is a model.Bot that records what it is asked to send. Like internal/matrix's Bot, it
// serves the optional interfaces through facets (model.As): the sender (model.OptionSender,
// model.IdempotentSender), the moderator (model.Muter, model.Moderator) and the raw API
// (model.RawAPI); its RoomActions are recorded by Actions, and Control sets its status and
// whether sends fail.
type FakeBot struct {
	ID   id.UserID
	Name string

	// Control sets the reported status and makes sends fail.
	Control FakeControl
	// Actions records the RoomActions calls and those of the facets (bot_actions.go).
	Actions FakeActions

	mu   sync.Mutex
	sent []FakeSent
	n    int
	keys map[string]fakeKeyed // idempotency keys (SentWithKey)
}

// FakeControl is what a test changes of a FakeBot: its status and whether sends fail.
type FakeControl struct {
	mu     sync.Mutex
	status model.BotStatus
	fail   error
}

// SetStatus changes the reported status.
func (c *FakeControl) SetStatus(st model.BotStatus) {
	c.mu.Lock()
	c.status = st
	c.mu.Unlock()
}

// FailSendsWith makes the next sends fail with err (nil to succeed again).
func (c *FakeControl) FailSendsWith(err error) {
	c.mu.Lock()
	c.fail = err
	c.mu.Unlock()
}

func (c *FakeControl) sendError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fail
}

// FakeSent is one recorded SendMessage call.
type FakeSent struct {
	To       model.Target
	Segments []model.Segment
	EventID  id.EventID
}

// NewFakeBot returns a syncing fake bot.
func NewFakeBot(user id.UserID) *FakeBot {
	b := &FakeBot{ID: user, Name: user.Localpart()}
	b.Control.status = model.BotStatus{State: model.StateSyncing, Since: time.Now()}
	return b
}

func (b *FakeBot) UserID() id.UserID   { return b.ID }
func (b *FakeBot) DisplayName() string { return b.Name }

func (b *FakeBot) Status() model.BotStatus {
	b.Control.mu.Lock()
	defer b.Control.mu.Unlock()
	return b.Control.status
}

// Facets implements model.Faceted.
func (b *FakeBot) Facets() []any {
	return []any{fakeSender{b}, fakeModerator{&b.Actions}, fakeRaw{&b.Actions}}
}

// SendMessage records the call and returns a made-up event ID.
func (b *FakeBot) SendMessage(_ context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	if err := b.Control.sendError(); err != nil {
		return model.Sent{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
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

// fakeSender is the FakeBot's send facet: model.IdempotentSender and model.OptionSender.
type fakeSender struct{ b *FakeBot }

// SentWithKey implements model.IdempotentSender in memory: a key seen with the same hash
// answers its first send; with another hash it is an ErrBadParam error.
func (s fakeSender) SentWithKey(_ context.Context, idem model.Idempotency) (model.Sent, bool, error) {
	b := s.b
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
func (s fakeSender) SendMessageWith(ctx context.Context, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	b := s.b
	if opts.Idempotency != nil {
		if sent, ok, err := s.SentWithKey(ctx, *opts.Idempotency); err != nil || ok {
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
	_ model.Faceted          = (*FakeBot)(nil)
	_ model.IdempotentSender = fakeSender{}
	_ model.OptionSender     = fakeSender{}
)

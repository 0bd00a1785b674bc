// Package send is a bot's send path: the paced, per-room ordered queue every room event leaves
// through (Sender, queue.go), and the idempotency keys that make a retried send post once
// (Keys, keys.go).
package send

import (
	"context"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
)

// Transmit sends one room event at once; the queue calls it for each attempt. It decides what
// goes out encrypted (crypt.Policy.Transmit).
type Transmit func(ctx context.Context, room id.RoomID, evtType event.Type, content any, encryptReaction bool, req mautrix.ReqSendEvent) (*mautrix.RespSendEvent, error)

// Sender sends a bot's room events through its paced queue.
type Sender struct {
	client   *mautrix.Client
	queue    *sendQueue
	transmit Transmit
}

// NewSender makes the send path of acct; transmit sends one attempt.
func NewSender(acct *account.Account, transmit Transmit) *Sender {
	return &Sender{
		client:   acct.Client(),
		transmit: transmit,
		queue: newSendQueue(acct.RetryInterval, func(wait time.Duration) {
			acct.Log().Info("rate limited by the homeserver; sends wait", "retry_in", wait)
		}),
	}
}

// TxnID returns a new transaction ID.
func (s *Sender) TxnID() string { return s.client.TxnID() }

// SendTxn sends one room event (a message, a reaction) through the bot's paced queue with a
// given transaction ID and returns its event ID: every try sends with it, so the homeserver
// posts the event once (a client's idempotency key keeps it across restarts, keys.go). It is the
// one place where the bot's room events leave: in an encrypted room this is where they get
// encrypted (transmit). encryptReaction matters only for reactions.
func (s *Sender) SendTxn(ctx context.Context, room id.RoomID, evtType event.Type, content any, encryptReaction bool, txnID string) (id.EventID, error) {
	var resp *mautrix.RespSendEvent
	err := s.queue.run(ctx, room, func(ctx context.Context) error {
		var err error
		resp, err = s.transmit(ctx, room, evtType, content, encryptReaction, mautrix.ReqSendEvent{TransactionID: txnID})
		return err
	})
	if err != nil {
		return "", err
	}
	return resp.EventID, nil
}

// Redact redacts an event through the paced queue (redactions count as messages for the
// homeserver's rate limits).
func (s *Sender) Redact(ctx context.Context, room id.RoomID, target id.EventID, reason string) error {
	txnID := s.client.TxnID()
	return s.queue.run(ctx, room, func(ctx context.Context) error {
		_, err := s.client.RedactEvent(ctx, room, target, mautrix.ReqRedact{Reason: reason, TxnID: txnID})
		return err
	})
}

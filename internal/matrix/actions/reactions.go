package actions

import (
	"context"
	"errors"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

var _ model.ReactionReader = (*Messages)(nil)

// reactionPage is how many reactions one relations request asks for.
const reactionPage = 100

// Reactions implements model.ReactionReader with the relations API
// (/rooms/{room}/relations/{msg}/m.annotation); room as for React. It asks for annotations of
// any event type: a reaction sent encrypted is an m.room.encrypted event whose m.relates_to the
// homeserver sees in the clear. Those are decrypted with the bot's keys (its own encrypted
// reactions included) and listed like plain ones; one the bot cannot decrypt is left out, as is
// one whose decrypted content does not annotate msg (the clear m.relates_to is not trusted).
func (s *Messages) Reactions(ctx context.Context, room id.RoomID, msg id.EventID, from string) ([]model.Reaction, string, error) {
	if err := s.acct.Online(); err != nil {
		return nil, "", err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return nil, "", err
	}
	resp, err := s.acct.Client().GetRelations(ctx, room, msg, &mautrix.ReqGetRelations{
		RelationType: event.RelAnnotation, From: from, Limit: reactionPage,
	})
	if err != nil {
		return nil, "", account.ActionError("failed to read the reactions to "+string(msg), err)
	}
	out := []model.Reaction{}
	for _, evt := range resp.Chunk {
		if r, ok := s.reaction(ctx, room, msg, evt); ok {
			out = append(out, r)
		}
	}
	return out, resp.NextBatch, nil
}

// reaction reads one annotation of msg: a plain m.reaction, or an encrypted one decrypted.
func (s *Messages) reaction(ctx context.Context, room id.RoomID, msg id.EventID, evt *event.Event) (model.Reaction, bool) {
	evt.RoomID = room
	if evt.Unsigned.RedactedBecause != nil {
		return model.Reaction{}, false
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		return model.Reaction{}, false
	}
	if evt.Type == event.EventEncrypted {
		crypto := s.device.Machine()
		if crypto == nil {
			return model.Reaction{}, false
		}
		dec, err := crypto.Decrypt(ctx, evt)
		if err != nil {
			s.acct.Log().Debug("reactions: cannot decrypt an annotation", "room_id", room, "event_id", evt.ID, "error", err)
			return model.Reaction{}, false
		}
		evt = dec
	}
	c, ok := evt.Content.Parsed.(*event.ReactionEventContent)
	if evt.Type != event.EventReaction || !ok || c.RelatesTo.Key == "" || c.RelatesTo.Type != event.RelAnnotation || c.RelatesTo.EventID != msg {
		return model.Reaction{}, false
	}
	return model.Reaction{EventID: evt.ID, RoomID: room, Sender: evt.Sender, Target: msg, Key: c.RelatesTo.Key}, true
}

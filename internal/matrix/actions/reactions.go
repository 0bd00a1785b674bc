package actions

import (
	"context"

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
// (/rooms/{room}/relations/{msg}/m.annotation/m.reaction); room as for React.
func (s *Messages) Reactions(ctx context.Context, room id.RoomID, msg id.EventID, from string) ([]model.Reaction, string, error) {
	if err := s.acct.Online(); err != nil {
		return nil, "", err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return nil, "", err
	}
	resp, err := s.acct.Client().GetRelations(ctx, room, msg, &mautrix.ReqGetRelations{
		RelationType: event.RelAnnotation, EventType: event.EventReaction, From: from, Limit: reactionPage,
	})
	if err != nil {
		return nil, "", account.ActionError("failed to read the reactions to "+string(msg), err)
	}
	out := []model.Reaction{}
	for _, evt := range resp.Chunk {
		if evt.Unsigned.RedactedBecause != nil {
			continue
		}
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			continue
		}
		c, ok := evt.Content.Parsed.(*event.ReactionEventContent)
		if !ok || c.RelatesTo.Key == "" {
			continue
		}
		out = append(out, model.Reaction{EventID: evt.ID, RoomID: room, Sender: evt.Sender, Target: msg, Key: c.RelatesTo.Key})
	}
	return out, resp.NextBatch, nil
}

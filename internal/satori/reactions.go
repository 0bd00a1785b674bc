package satori

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// maxReactionPages bounds how many pages of reactions reaction.delete and reaction.clear read
// to find what to redact.
const maxReactionPages = 20

// reactionParams name a message and an emoji (emoji is emoji_id's name before protocol 1.1).
type reactionParams struct {
	messageParams
	EmojiID string `json:"emoji_id,omitempty"` // one of the two is required
	Emoji   string `json:"emoji,omitempty"`
}

// reactionCall checks the parameters of the reaction methods and returns the message's room (""
// when the gateway knows the message), the emoji (required when needKey) and the bot's
// ReactionReader.
func (c *call) reactionCall(p reactionParams, needKey bool) (id.RoomID, string, model.ReactionReader, error) {
	room, err := p.room()
	if err != nil {
		return "", "", nil, err
	}
	key := firstOf(p.EmojiID, p.Emoji)
	if needKey {
		if err := required("emoji_id", key); err != nil {
			return "", "", nil, err
		}
	}
	rr, ok := model.As[model.ReactionReader](c.bot)
	if !ok {
		return "", "", nil, model.Errorf(model.ErrNotFound, "this bot reads no reactions")
	}
	return room, key, rr, nil
}

// reactions returns the reactions to a message that match (key "" = every key, user "" = every
// sender), reading at most maxReactionPages pages.
func reactions(ctx context.Context, rr model.ReactionReader, room id.RoomID, msg id.EventID, key string, user id.UserID) ([]model.Reaction, error) {
	var out []model.Reaction
	from := ""
	for range maxReactionPages {
		page, next, err := rr.Reactions(ctx, room, msg, from)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			if (key == "" || r.Key == key) && (user == "" || r.Sender == user) {
				out = append(out, r)
			}
		}
		if next == "" {
			break
		}
		from = next
	}
	return out, nil
}

// reactionDeleteParams are reaction.delete's: whose reaction (none: the bot's own).
type reactionDeleteParams struct {
	reactionParams
	UserID string `json:"user_id,omitempty"`
}

// reactionDelete removes a reaction: the bot's own (no user_id), or another user's, which the
// homeserver lets the bot redact only as a moderator (403 otherwise).
func reactionDelete(ctx context.Context, c *call, p reactionDeleteParams) (Empty, error) {
	room, key, rr, err := c.reactionCall(p.reactionParams, true)
	if err != nil {
		return Empty{}, err
	}
	user := id.UserID(p.UserID)
	if user == "" {
		user = c.bot.UserID()
	}
	found, err := reactions(ctx, rr, room, id.EventID(p.MessageID), key, user)
	if err != nil {
		return Empty{}, err
	}
	if len(found) == 0 {
		return Empty{}, model.Errorf(model.ErrNotFound, "%s has no reaction %q to message %s", user, key, p.MessageID)
	}
	return Empty{}, redactReactions(ctx, c.bot, found)
}

// reactionClear removes every reaction to a message (those with emoji_id only, when given): a
// moderator's action for reactions of others.
func reactionClear(ctx context.Context, c *call, p reactionParams) (Empty, error) {
	room, key, rr, err := c.reactionCall(p, false)
	if err != nil {
		return Empty{}, err
	}
	found, err := reactions(ctx, rr, room, id.EventID(p.MessageID), key, "")
	if err != nil {
		return Empty{}, err
	}
	return Empty{}, redactReactions(ctx, c.bot, found)
}

func redactReactions(ctx context.Context, bot model.Bot, rs []model.Reaction) error {
	for _, r := range rs {
		if err := bot.DeleteMessage(ctx, r.RoomID, r.EventID, ""); err != nil {
			return err
		}
	}
	return nil
}

// reactionListParams are reaction.list's: next is the token of the page to read.
type reactionListParams struct {
	reactionParams
	Next string `json:"next,omitempty"`
}

// reactionList lists who reacted to a message with emoji_id, one page of the relations API at a
// time (next: its token).
func reactionList(ctx context.Context, c *call, p reactionListParams) (List[User], error) {
	room, key, rr, err := c.reactionCall(p.reactionParams, true)
	if err != nil {
		return List[User]{}, err
	}
	page, next, err := rr.Reactions(ctx, room, id.EventID(p.MessageID), p.Next)
	if err != nil {
		return List[User]{}, err
	}
	out := List[User]{Data: []User{}, Next: next}
	for _, r := range page {
		if r.Key == key {
			out.Data = append(out.Data, User{ID: string(r.Sender)})
		}
	}
	return out, nil
}

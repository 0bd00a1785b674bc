package satori

import (
	"context"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// maxReactionPages bounds how many pages of reactions reaction.delete and reaction.clear read
// to find what to redact.
const maxReactionPages = 20

// reactionCall reads the parameters of the reaction methods: the message, its room ("" when the
// gateway knows the message), the emoji (required when needKey) and the bot's ReactionReader.
func (c *call) reactionCall(needKey bool) (id.RoomID, messageParams, string, model.ReactionReader, error) {
	room, p, err := c.message()
	if err != nil {
		return "", p, "", nil, err
	}
	key := firstOf(p.EmojiID, p.Emoji)
	if needKey {
		if err := required("emoji_id", key); err != nil {
			return "", p, "", nil, err
		}
	}
	rr, ok := model.As[model.ReactionReader](c.bot)
	if !ok {
		return "", p, "", nil, model.Errorf(model.ErrNotFound, "this bot reads no reactions")
	}
	return room, p, key, rr, nil
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

// reactionDelete removes a reaction: the bot's own (no user_id), or another user's, which the
// homeserver lets the bot redact only as a moderator (403 otherwise).
func reactionDelete(ctx context.Context, c *call) (any, error) {
	var u struct {
		UserID string `json:"user_id"`
	}
	if err := c.params(&u); err != nil {
		return nil, err
	}
	room, p, key, rr, err := c.reactionCall(true)
	if err != nil {
		return nil, err
	}
	user := id.UserID(u.UserID)
	if user == "" {
		user = c.bot.UserID()
	}
	found, err := reactions(ctx, rr, room, id.EventID(p.MessageID), key, user)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, model.Errorf(model.ErrNotFound, "%s has no reaction %q to message %s", user, key, p.MessageID)
	}
	return nil, redactReactions(ctx, c.bot, found)
}

// reactionClear removes every reaction to a message (those with emoji_id only, when given): a
// moderator's action for reactions of others.
func reactionClear(ctx context.Context, c *call) (any, error) {
	room, p, key, rr, err := c.reactionCall(false)
	if err != nil {
		return nil, err
	}
	found, err := reactions(ctx, rr, room, id.EventID(p.MessageID), key, "")
	if err != nil {
		return nil, err
	}
	return nil, redactReactions(ctx, c.bot, found)
}

func redactReactions(ctx context.Context, bot model.Bot, rs []model.Reaction) error {
	for _, r := range rs {
		if err := bot.DeleteMessage(ctx, r.RoomID, r.EventID, ""); err != nil {
			return err
		}
	}
	return nil
}

// reactionList lists who reacted to a message with emoji_id, one page of the relations API at a
// time (next: its token).
func reactionList(ctx context.Context, c *call) (any, error) {
	var n struct {
		Next string `json:"next"`
	}
	if err := c.params(&n); err != nil {
		return nil, err
	}
	room, p, key, rr, err := c.reactionCall(true)
	if err != nil {
		return nil, err
	}
	page, next, err := rr.Reactions(ctx, room, id.EventID(p.MessageID), n.Next)
	if err != nil {
		return nil, err
	}
	out := List[User]{Data: []User{}, Next: next}
	for _, r := range page {
		if r.Key == key {
			out.Data = append(out.Data, User{ID: string(r.Sender)})
		}
	}
	return out, nil
}

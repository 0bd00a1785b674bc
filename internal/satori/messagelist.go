package satori

import (
	"context"
	"slices"

	"github.com/matrix-onebot/gateway/internal/model"
)

// BidiList is a page of a list that can be read in both directions (message.list): prev reads
// on toward older messages (direction "before"), next toward newer ones ("after").
type BidiList[T any] struct {
	Data []T    `json:"data"`
	Prev string `json:"prev,omitempty"`
	Next string `json:"next,omitempty"`
}

// maxListLimit is the most messages message.list returns at once (and its default).
const maxListLimit = 100

// listParams are message.list's.
type listParams struct {
	ChannelID string `json:"channel_id"`
	Next      string `json:"next,omitempty"`
	Direction string `json:"direction,omitempty"`
	Limit     *int   `json:"limit,omitempty"`
	Order     string `json:"order,omitempty"`
}

// messageList reads a channel's history from the homeserver (model.HistoryReader: Matrix's
// /messages). next is a token of an earlier answer (its prev with direction "before", its next
// with "after"; none = from the newest message backward, or from the oldest forward); order
// "asc" (the default) lists the oldest first. "around" is not served: Matrix pages from tokens,
// not from a message.
func messageList(ctx context.Context, c *call, p listParams) (BidiList[Message], error) {
	room, err := roomParam("channel_id", p.ChannelID)
	if err != nil {
		return BidiList[Message]{}, err
	}
	var backward bool
	switch p.Direction {
	case "", "before":
		backward = true
	case "after":
	case "around":
		return BidiList[Message]{}, model.Errorf(model.ErrBadParam, "direction around is not served: Matrix pages history from tokens, not around a message; use before or after")
	default:
		return BidiList[Message]{}, model.Errorf(model.ErrBadParam, "direction must be before or after, got %q", p.Direction)
	}
	if p.Order != "" && p.Order != "asc" && p.Order != "desc" {
		return BidiList[Message]{}, model.Errorf(model.ErrBadParam, "order must be asc or desc, got %q", p.Order)
	}
	limit := maxListLimit
	if p.Limit != nil {
		if *p.Limit < 1 || *p.Limit > maxListLimit {
			return BidiList[Message]{}, model.Errorf(model.ErrBadParam, "limit must be from 1 to %d, got %d", maxListLimit, *p.Limit)
		}
		limit = *p.Limit
	}
	h, ok := model.As[model.HistoryReader](c.bot)
	if !ok {
		return BidiList[Message]{}, model.Errorf(model.ErrNotFound, "this bot reads no history")
	}
	page, err := h.History(ctx, room, p.Next, backward, limit)
	if err != nil {
		return BidiList[Message]{}, err
	}
	out := BidiList[Message]{Data: []Message{}}
	if backward {
		out.Prev, out.Next = page.Further, page.Back
	} else {
		out.Next, out.Prev = page.Further, page.Back
	}
	for _, ev := range page.Events {
		se, ok := EventOf(ev, c.login)
		if !ok || se.Message == nil {
			continue
		}
		m := *se.Message
		m.Channel, m.Guild, m.Member, m.User = se.Channel, se.Guild, se.Member, se.User
		out.Data = append(out.Data, m)
	}
	// The homeserver gives a backward page newest first, a forward page oldest first.
	if backward != (p.Order == "desc") {
		slices.Reverse(out.Data)
	}
	return out, nil
}

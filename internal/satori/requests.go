package satori

import (
	"context"

	"github.com/matrix-onebot/gateway/internal/model"
)

// requestApprove answers a guild-request or friend-request event: an invite the bot did not
// accept by itself, whose request id (message_id) is the room ID. Approving joins the room,
// declining rejects the invite with the comment as its reason.
func requestApprove(ctx context.Context, c *call) (any, error) {
	var p struct {
		MessageID string `json:"message_id"`
		Approve   *bool  `json:"approve"`
		Comment   string `json:"comment"`
	}
	if err := c.params(&p); err != nil {
		return nil, err
	}
	room, err := roomParam("message_id", p.MessageID)
	if err != nil {
		return nil, err
	}
	if p.Approve == nil {
		return nil, model.Errorf(model.ErrBadParam, "approve is required (true joins the room, false rejects the invite)")
	}
	return nil, c.bot.AnswerInvite(ctx, room, *p.Approve, p.Comment)
}

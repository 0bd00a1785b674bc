package satori

import (
	"context"

	"github.com/matrix-onebot/gateway/internal/model"
)

// approveParams are guild.approve's and friend.approve's.
type approveParams struct {
	MessageID string `json:"message_id"`
	Approve   *bool  `json:"approve"`
	Comment   string `json:"comment,omitempty"`
}

// requestApprove answers a guild-request or friend-request event: an invite the bot did not
// accept by itself, whose request id (message_id) is the room ID. Approving joins the room,
// declining rejects the invite with the comment as its reason.
func requestApprove(ctx context.Context, c *call, p approveParams) (Empty, error) {
	room, err := roomParam("message_id", p.MessageID)
	if err != nil {
		return Empty{}, err
	}
	if p.Approve == nil {
		return Empty{}, model.Errorf(model.ErrBadParam, "approve is required (true joins the room, false rejects the invite)")
	}
	return Empty{}, c.bot.AnswerInvite(ctx, room, *p.Approve, p.Comment)
}

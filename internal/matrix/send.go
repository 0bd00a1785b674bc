package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// SendMessage implements model.Bot.
func (s *Session) SendMessage(ctx context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	if !s.Status().Online() && s.Status().State != model.StateStarting {
		return model.Sent{}, &model.ActionError{Kind: model.ErrBotOffline, Message: "bot is offline: " + s.Status().Reason}
	}
	room := to.RoomID
	if room == "" {
		var err error
		if room, err = s.ensureDirectRoom(ctx, to.UserID); err != nil {
			return model.Sent{}, err
		}
	}
	content, err := buildContent(segs, func(u id.UserID) string { return s.memberName(ctx, room, u) })
	if err != nil {
		return model.Sent{}, err
	}
	resp, err := s.client.SendMessageEvent(ctx, room, event.EventMessage, content)
	if err != nil {
		return model.Sent{}, actionError("failed to send message", err)
	}
	now := time.Now()
	raw, _ := json.Marshal(content)
	if err := s.opts.DB.PutMessage(ctx, storage.Message{
		BotUserID: string(s.UserID()), RoomID: string(room), EventID: string(resp.EventID),
		Sender: string(s.UserID()), Time: now, Content: raw,
	}); err != nil {
		s.log.Warn("failed to index sent message", "event_id", resp.EventID, "error", err)
	}
	return model.Sent{EventID: resp.EventID, RoomID: room, Time: now}, nil
}

// ensureDirectRoom finds the direct room with u, creating one (and recording it in m.direct).
func (s *Session) ensureDirectRoom(ctx context.Context, u id.UserID) (id.RoomID, error) {
	if room := s.directRoomWith(ctx, u); room != "" {
		return room, nil
	}
	resp, err := s.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{u},
	})
	if err != nil {
		return "", actionError("failed to create a direct room with "+string(u), err)
	}
	if err := s.addDirect(ctx, u, resp.RoomID); err != nil {
		s.log.Warn("failed to record direct room", "room_id", resp.RoomID, "error", err)
	}
	return resp.RoomID, nil
}

// actionError classifies a homeserver failure for the OneBot side.
func actionError(msg string, err error) error {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		kind := model.ErrPlatform
		if errors.Is(err, mautrix.MLimitExceeded) {
			kind = model.ErrRateLimited
		}
		if errors.Is(err, mautrix.MNotFound) {
			kind = model.ErrNotFound
		}
		return &model.ActionError{Kind: kind, Message: msg + ": " + httpErr.RespError.Err, MatrixErr: httpErr.RespError.ErrCode}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &model.ActionError{Kind: model.ErrNetwork, Message: msg + ": timed out", Err: err}
	}
	return &model.ActionError{Kind: model.ErrNetwork, Message: msg, Err: err}
}

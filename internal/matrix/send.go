package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// SendMessage implements model.Bot.
func (s *Session) SendMessage(ctx context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	return s.SendMessageWith(ctx, to, segs, model.SendOptions{})
}

// SendMessageWith implements model.OptionSender. Text goes out as one event, each media or
// location segment as an event of its own; the first event is the one reported (and the one a
// reply segment applies to).
func (s *Session) SendMessageWith(ctx context.Context, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	var txnBase string // with an idempotency key: the stored transaction ID (idempotency.go)
	if idem := opts.Idempotency; idem != nil {
		unlock := s.sendKeys.lock(idem.Key)
		defer unlock()
		rec, err := s.claimKey(ctx, *idem)
		if err != nil {
			return model.Sent{}, err
		}
		if rec.Done() { // sent before: answer that message, send nothing
			return sentOf(rec), nil
		}
		txnBase = rec.TxnID
	}
	if !s.Status().Online() && s.Status().State != model.StateStarting {
		return model.Sent{}, &model.ActionError{Kind: model.ErrBotOffline, Message: "bot is offline: " + s.Status().Reason}
	}
	msgType, err := textMsgType(opts.MsgType, s.opts.Bot.OneBotMsgType)
	if err != nil {
		return model.Sent{}, err
	}
	markdown := s.opts.Bot.OneBotMarkdown
	if opts.Markdown != nil {
		markdown = *opts.Markdown
	}
	room := to.RoomID
	if room == "" {
		if room, err = s.ensureDirectRoom(ctx, to.UserID); err != nil {
			return model.Sent{}, err
		}
	}
	// Known before anything is built or uploaded: attachments are encrypted with the event, and
	// a room whose encryption state is unknown gets nothing.
	encrypt, err := s.mustEncrypt(ctx, room, event.EventMessage, false)
	if err != nil {
		return model.Sent{}, err
	}
	typed, err := model.DecodeSegments(segs)
	if err != nil {
		return model.Sent{}, err
	}
	contents, err := buildContents(typed, outgoingEnv{
		displayName: func(u id.UserID) string { return s.memberName(ctx, room, u) },
		file:        func(fileID string) (*fileRecord, error) { return s.uploadFile(ctx, room, fileID, encrypt) },
		msgType:     msgType,
		markdown:    markdown,
	})
	if err != nil {
		return model.Sent{}, err
	}
	var first model.Sent
	for i, content := range contents {
		txnID := s.client.TxnID()
		if txnBase != "" {
			txnID = partTxnID(txnBase, i)
		}
		evtID, err := s.sendEventTxn(ctx, room, event.EventMessage, content, false, txnID) // paced queue, encrypts (queue.go)
		if err != nil {
			msg := "failed to send message"
			if len(contents) > 1 {
				msg = fmt.Sprintf("failed to send part %d of %d of the message", i+1, len(contents))
			}
			return model.Sent{}, actionError(msg, err)
		}
		now := time.Now()
		raw, _ := json.Marshal(content)
		if err := s.opts.DB.PutMessage(ctx, storage.Message{
			BotUserID: string(s.UserID()), RoomID: string(room), EventID: string(evtID),
			Sender: string(s.UserID()), Time: now, Content: raw, Encrypted: encrypt,
		}); err != nil {
			s.log.Warn("failed to index sent message", "event_id", evtID, "error", err)
		}
		if i == 0 {
			first = model.Sent{EventID: evtID, RoomID: room, Time: now}
		}
	}
	if opts.Idempotency != nil {
		s.finishKey(ctx, *opts.Idempotency, first)
	}
	return first, nil
}

// textMsgType picks the msgtype of text: the call's, else the bot's onebot_msgtype, else m.text.
func textMsgType(call, bot string) (event.MessageType, error) {
	t := call
	if t == "" {
		t = bot
	}
	switch event.MessageType(t) {
	case "":
		return event.MsgText, nil
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		return event.MessageType(t), nil
	}
	return "", model.Errorf(model.ErrBadParam, "msgtype %q is not allowed: use m.text, m.notice or m.emote", t)
}

// GetMessage implements model.MessageGetter from the message index, so it works for any message
// the bot has seen or sent, also after a restart.
func (s *Session) GetMessage(ctx context.Context, evt id.EventID) (*model.Event, error) {
	m, err := s.opts.DB.GetMessage(ctx, string(s.UserID()), string(evt))
	r := s.opts.DB.Retention()
	switch {
	case errors.Is(err, storage.ErrExpired):
		return nil, model.Errorf(model.ErrGone, "message %s has expired: the gateway keeps messages for %v (GATEWAY_MESSAGE_RETENTION)", evt, r.MessageAge)
	case errors.Is(err, storage.ErrNotFound):
		return nil, model.Errorf(model.ErrNotFound, "message %s is unknown to the gateway, or was pruned from its index "+
			"(kept for %v and at most %d per room: GATEWAY_MESSAGE_RETENTION, GATEWAY_MESSAGE_RETENTION_COUNT)", evt, r.MessageAge, r.MessageCount)
	case err != nil:
		return nil, err
	case m.Redacted:
		return nil, model.Errorf(model.ErrGone, "message %s was redacted (deleted)", evt)
	case m.BodyExpired:
		return nil, model.Errorf(model.ErrGone, "the content of message %s, from an encrypted room, has expired: the gateway keeps "+
			"decrypted bodies for %v (GATEWAY_ENCRYPTED_BODY_RETENTION)", evt, r.EncryptedBodyAge)
	}
	if s.leftRoom(ctx, id.RoomID(m.RoomID)) {
		return nil, model.Errorf(model.ErrNotFound, "message %s is in a room the bot is no longer in", evt)
	}
	var c event.Content
	if err := json.Unmarshal(m.Content, &c); err != nil {
		return nil, fmt.Errorf("failed to read indexed message %s: %w", evt, err)
	}
	if err := c.ParseRaw(event.EventMessage); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		return nil, fmt.Errorf("failed to read indexed message %s: %w", evt, err)
	}
	content := c.AsMessage()
	room, sender := id.RoomID(m.RoomID), id.UserID(m.Sender)
	segs, plain := s.incomingSegments(ctx, room, content)
	return &model.Event{
		ID: string(evt), Time: m.Time, Self: s.UserID(), Kind: model.KindMessage,
		Message: &model.Message{
			EventID: evt, RoomID: room, Sender: sender, SenderName: s.memberName(ctx, room, sender),
			SenderRole: s.memberRole(ctx, room, sender), Direct: s.isDirect(room), MsgType: string(content.MsgType), Segments: segs, Plain: plain,
		},
	}, nil
}

// recipient is the bot as a mention of it in room may be written.
func (s *Session) recipient(ctx context.Context, room id.RoomID) recipient {
	self := recipient{id: s.UserID(), names: []string{s.UserID().Localpart()}}
	if name := s.memberName(ctx, room, self.id); name != "" {
		self.names = append(self.names, name)
	}
	return self
}

// incomingSegments converts a received (or indexed) message content of room, recording its file.
func (s *Session) incomingSegments(ctx context.Context, room id.RoomID, content *event.MessageEventContent) ([]model.Segment, string) {
	segs, plain := contentSegments(content, incomingEnv{
		self:  s.recipient(ctx, room),
		reply: func(e id.EventID) (id.UserID, bool) { return s.replyTarget(ctx, room, e) },
		file: func(c *event.MessageEventContent) (model.FileInfo, string, bool) {
			info, ok := s.registerIncoming(ctx, c)
			if !ok {
				return model.FileInfo{}, "", false
			}
			return info, s.opts.Media.URL(info.ID), true
		},
	})
	return model.EncodeSegments(segs), plain
}

// ensureDirectRoom finds the direct room with u, creating one (and recording it in m.direct).
// A new direct room is encrypted when the bot does end-to-end encryption, as Element makes them.
func (s *Session) ensureDirectRoom(ctx context.Context, u id.UserID) (id.RoomID, error) {
	if room := s.directRoomWith(ctx, u); room != "" {
		return room, nil
	}
	req := &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{u}}
	if s.encryptsNewRooms() {
		req.InitialState = []*event.Event{encryptionState()}
	}
	resp, err := s.client.CreateRoom(ctx, req)
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
	var ae *model.ActionError
	if errors.As(err, &ae) {
		return err // already classified (e.g. by the send queue)
	}
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		// Every homeserver refusal, M_NOT_FOUND included, is a platform error carrying the errcode.
		kind := model.ErrPlatform
		if errors.Is(err, mautrix.MLimitExceeded) {
			kind = model.ErrRateLimited
		}
		return &model.ActionError{Kind: kind, Message: msg + ": " + httpErr.RespError.Err, MatrixErr: httpErr.RespError.ErrCode}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &model.ActionError{Kind: model.ErrNetwork, Message: msg + ": timed out", Err: err}
	}
	return &model.ActionError{Kind: model.ErrNetwork, Message: msg, Err: err}
}

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

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
	"github.com/matrix-onebot/gateway/internal/matrix/send"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// messenger sends a bot's messages and reads them back: segments → Matrix content out through
// the send queue, and Matrix content → segments for received and indexed messages.
type messenger struct {
	acct   *account.Account
	direct *rooms.Direct
	state  *rooms.State
	index  *rooms.Index
	files  *media.Files
	device *crypt.Device
	policy *crypt.Policy
	sender *send.Sender
	keys   *send.Keys
	plain  *plaintextGuard // plaintext.go: what the history leaves out
}

var (
	_ model.OptionSender  = (*messenger)(nil)
	_ model.MessageGetter = (*messenger)(nil)
)

// SendMessage implements model.Bot.
func (s *messenger) SendMessage(ctx context.Context, to model.Target, segs []model.Segment) (model.Sent, error) {
	return s.SendMessageWith(ctx, to, segs, model.SendOptions{})
}

// SendMessageWith implements model.OptionSender. Text goes out as one event, each media or
// location segment as an event of its own; the first event is the one reported (and the one a
// reply segment applies to).
func (s *messenger) SendMessageWith(ctx context.Context, to model.Target, segs []model.Segment, opts model.SendOptions) (model.Sent, error) {
	var txnBase string // with an idempotency key: the stored transaction ID (send.Keys)
	if idem := opts.Idempotency; idem != nil {
		unlock := s.keys.Lock(idem.Key)
		defer unlock()
		rec, err := s.keys.Claim(ctx, *idem)
		if err != nil {
			return model.Sent{}, err
		}
		if rec.Done() { // sent before: answer that message, send nothing
			return send.SentOf(rec), nil
		}
		txnBase = rec.TxnID
	}
	if err := s.acct.Online(); err != nil {
		return model.Sent{}, err
	}
	msgType, err := textMsgType(opts.MsgType, s.acct.Config.OneBotMsgType)
	if err != nil {
		return model.Sent{}, err
	}
	markdown := s.acct.Config.OneBotMarkdown
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
	encrypt, err := s.policy.MustEncrypt(ctx, room, event.EventMessage, false)
	if err != nil {
		return model.Sent{}, err
	}
	if opts.Replace != "" {
		for _, seg := range segs {
			switch seg.(type) {
			case model.Media, model.Location:
				return model.Sent{}, model.Errorf(model.ErrBadParam, "an edit replaces a message with text only, not %s", seg.Type())
			}
		}
	}
	contents, err := buildContents(segs, outgoingEnv{
		displayName: func(u id.UserID) string { return s.state.MemberName(ctx, room, u) },
		file:        func(fileID string) (*fileRecord, error) { return s.files.Upload(ctx, room, fileID, encrypt) },
		msgType:     msgType,
		markdown:    markdown,
	})
	if err != nil {
		return model.Sent{}, err
	}
	if opts.Replace != "" {
		if len(contents) != 1 {
			return model.Sent{}, model.Errorf(model.ErrBadParam, "an edit replaces a message with one text")
		}
		contents[0].RelatesTo = nil // an edit is no reply; the edited message keeps its own relation
		contents[0].SetEdit(opts.Replace)
	}
	var first model.Sent
	for i, content := range contents {
		txnID := s.sender.TxnID()
		if txnBase != "" {
			txnID = send.PartTxnID(txnBase, i)
		}
		evtID, err := s.sender.SendTxn(ctx, room, event.EventMessage, content, false, txnID) // paced queue, encrypts (send.Sender)
		if err != nil {
			msg := "failed to send message"
			if len(contents) > 1 {
				msg = fmt.Sprintf("failed to send part %d of %d of the message", i+1, len(contents))
			}
			return model.Sent{}, actionError(msg, err)
		}
		now := time.Now()
		raw, _ := json.Marshal(content)
		// Held for the index: the answer waits for no commit; the sync loop stores it with the
		// batch of its echo, and reads of it meanwhile get the held copy.
		s.acct.DB.Messages().PutMessageLater(storage.Message{
			BotUserID: string(s.acct.UserID()), RoomID: string(room), EventID: string(evtID),
			Sender: string(s.acct.UserID()), Time: now, Content: raw, Encrypted: encrypt,
		}, func(err error) { s.acct.Log().Warn("failed to index sent message", "event_id", evtID, "error", err) })
		if i == 0 {
			first = model.Sent{EventID: evtID, RoomID: room, Time: now}
		}
	}
	if opts.Idempotency != nil {
		s.keys.Finish(ctx, *opts.Idempotency, first)
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
func (s *messenger) GetMessage(ctx context.Context, evt id.EventID) (*model.Event, error) {
	m, err := s.acct.DB.Messages().GetMessage(ctx, string(s.acct.UserID()), string(evt))
	r := s.acct.DB.Retention()
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
	if s.state.Left(ctx, id.RoomID(m.RoomID)) {
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
		ID: string(evt), Time: m.Time, Self: s.acct.UserID(), Kind: model.KindMessage,
		Message: &model.Message{
			EventID: evt, RoomID: room, Sender: sender, SenderName: s.state.MemberName(ctx, room, sender),
			SenderRole: s.state.MemberRole(ctx, room, sender), Direct: s.direct.IsDirect(room), MsgType: string(content.MsgType), Segments: segs, Plain: plain,
		},
	}, nil
}

// recipient is the bot as a mention of it in room may be written.
func (s *messenger) recipient(ctx context.Context, room id.RoomID) recipient {
	self := recipient{id: s.acct.UserID(), names: []string{s.acct.UserID().Localpart()}}
	if name := s.state.MemberName(ctx, room, self.id); name != "" {
		self.names = append(self.names, name)
	}
	return self
}

// incomingSegments converts a received (or indexed) message content of room, recording its file.
func (s *messenger) incomingSegments(ctx context.Context, room id.RoomID, content *event.MessageEventContent) ([]model.Segment, string) {
	return contentSegments(content, incomingEnv{
		self:  s.recipient(ctx, room),
		reply: func(e id.EventID) (id.UserID, bool) { return s.index.ReplyTarget(ctx, room, e) },
		file: func(c *event.MessageEventContent) (model.FileInfo, string, bool) {
			info, ok := s.files.RegisterIncoming(ctx, c)
			if !ok {
				return model.FileInfo{}, "", false
			}
			return info, s.files.URL(info.ID), true
		},
	})
}

// ensureDirectRoom finds the direct room with u, creating one (and recording it in m.direct).
// A new direct room is encrypted when the bot does end-to-end encryption, as Element makes them.
func (s *messenger) ensureDirectRoom(ctx context.Context, u id.UserID) (id.RoomID, error) {
	if room := s.direct.RoomWith(ctx, u); room != "" {
		return room, nil
	}
	req := &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{u}}
	if s.device.EncryptsNewRooms() {
		req.InitialState = []*event.Event{crypt.EncryptionState()}
	}
	resp, err := s.acct.Client().CreateRoom(ctx, req)
	if err != nil {
		return "", actionError("failed to create a direct room with "+string(u), err)
	}
	if err := s.direct.Add(ctx, u, resp.RoomID); err != nil {
		s.acct.Log().Warn("failed to record direct room", "room_id", resp.RoomID, "error", err)
	}
	return resp.RoomID, nil
}

// actionError classifies a homeserver failure for the OneBot side (account.ActionError).
func actionError(msg string, err error) error { return account.ActionError(msg, err) }

package matrix

import (
	"context"
	"errors"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

var _ model.HistoryReader = (*messenger)(nil)

// maxHistory is the most events History asks the homeserver for at once.
const maxHistory = 100

// historyRounds is how many pages of /messages one History call reads at most.
const historyRounds = 4

// historyFilter asks /messages for what can be a message only (m.room.encrypted: a message of an
// encrypted room, decrypted here when the bot has its key).
var historyFilter = &mautrix.FilterPart{Types: []event.Type{event.EventMessage, event.EventEncrypted}}

// History implements model.HistoryReader with the homeserver's /messages: the tokens are
// Matrix's own (start/end), messages are converted as received ones are (incomingSegments).
// Encrypted messages whose key the bot lacks, edits, redacted messages and unencrypted messages
// of an encrypted room (plaintextGuard) are left out.
func (s *messenger) History(ctx context.Context, room id.RoomID, from string, backward bool, limit int) (model.History, error) {
	if limit <= 0 || limit > maxHistory {
		limit = maxHistory
	}
	dir := mautrix.DirectionForward
	if backward {
		dir = mautrix.DirectionBackward
	}
	out := model.History{Events: []*model.Event{}}
	// Edits and undecryptable events take room in a page of /messages but are left out here:
	// read on (a few pages at most) so that a page does not come back empty while there is more.
	for range historyRounds {
		resp, err := s.acct.Client().Messages(ctx, room, from, "", dir, historyFilter, limit-len(out.Events))
		if err != nil {
			return model.History{}, account.ActionError("failed to read the history of "+string(room), err)
		}
		if out.Back == "" {
			out.Back = resp.Start
		}
		out.Further = resp.End
		for _, evt := range resp.Chunk {
			if ev := s.historyEvent(ctx, room, evt); ev != nil {
				out.Events = append(out.Events, ev)
			}
		}
		if resp.End == "" || len(out.Events) >= limit {
			break
		}
		from = resp.End
	}
	return out, nil
}

// historyEvent converts one event of /messages into a KindMessage event; nil when it is none.
func (s *messenger) historyEvent(ctx context.Context, room id.RoomID, evt *event.Event) *model.Event {
	evt.RoomID = room
	if evt.Unsigned.RedactedBecause != nil {
		return nil
	}
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		return nil
	}
	if evt.Type != event.EventEncrypted && s.plain.refuses(evt, s.state.Encrypted(ctx, room)) {
		s.acct.Log().Debug("history: left out an unencrypted message of an encrypted room", "room_id", room, "event_id", evt.ID)
		return nil
	}
	if evt.Type == event.EventEncrypted {
		crypto := s.device.Machine()
		if crypto == nil {
			return nil
		}
		dec, err := crypto.Decrypt(ctx, evt)
		if err != nil {
			s.acct.Log().Debug("history: cannot decrypt an event", "room_id", room, "event_id", evt.ID, "error", err)
			return nil
		}
		evt = dec
	}
	content, ok := evt.Content.Parsed.(*event.MessageEventContent)
	if !ok || content.MsgType == "" || (content.RelatesTo != nil && content.RelatesTo.Type == event.RelReplace) {
		return nil
	}
	segs, plain := s.incomingSegments(ctx, room, content)
	return &model.Event{
		ID: string(evt.ID), Time: time.UnixMilli(evt.Timestamp), Self: s.acct.UserID(), Kind: model.KindMessage,
		Message: &model.Message{
			EventID: evt.ID, RoomID: room, Sender: evt.Sender, SenderName: s.state.MemberName(ctx, room, evt.Sender),
			SenderRole: s.state.MemberRole(ctx, room, evt.Sender), Direct: s.direct.IsDirect(room), MsgType: string(content.MsgType),
			Segments: segs, Plain: plain,
		},
	}
}

package rooms

import (
	"context"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Index is the bot's message index (storage gateway messages), for get_msg, replies, recalls,
// reactions and edits.
type Index struct {
	acct  *account.Account
	state *State
}

// NewIndex returns acct's message index; state tells which rooms are encrypted.
func NewIndex(acct *account.Account, state *State) *Index { return &Index{acct: acct, state: state} }

// Put keeps a received message in the index.
func (x *Index) Put(ctx context.Context, evt *event.Event) {
	content := evt.Content.VeryRaw
	if content == nil {
		content, _ = json.Marshal(evt.Content.Parsed)
	}
	err := x.acct.DB.PutMessage(ctx, storage.Message{
		BotUserID: string(x.acct.UserID()), RoomID: string(evt.RoomID), EventID: string(evt.ID),
		Sender: string(evt.Sender), Time: time.UnixMilli(evt.Timestamp), Content: content,
		Encrypted: evt.Mautrix.WasEncrypted || x.state.Encrypted(ctx, evt.RoomID),
	})
	if err != nil {
		x.acct.Log().Warn("failed to index message", "event_id", evt.ID, "error", err)
	}
}

// In looks an event up in the bot's message index: its sender ("" when the gateway never saw
// it), and whether it is known to be in another room than room. Whatever relates to an event (a
// reply, reaction, edit or redaction) is only ever resolved within one room.
func (x *Index) In(ctx context.Context, room id.RoomID, e id.EventID) (sender id.UserID, elsewhere bool) {
	m, err := x.acct.DB.GetMessage(ctx, string(x.acct.UserID()), string(e))
	if err != nil {
		return "", false
	}
	if id.RoomID(m.RoomID) != room {
		return "", true
	}
	return id.UserID(m.Sender), false
}

// replyLookupTimeout bounds asking the homeserver about a replied-to event the gateway never saw.
const replyLookupTimeout = 5 * time.Second

// ReplyTarget resolves the event a message in room replies to: from the message index, or else
// from the homeserver, whose /rooms/{room}/event/{id} answers only for an event of that room the
// bot may see. Anything else drops the reply segment (ok false).
func (x *Index) ReplyTarget(ctx context.Context, room id.RoomID, e id.EventID) (id.UserID, bool) {
	sender, elsewhere := x.In(ctx, room, e)
	switch {
	case elsewhere:
		x.acct.Log().Info("reply segment dropped: the replied-to event is in another room", "room_id", room, "in_reply_to", e)
		return "", false
	case sender != "":
		return sender, true
	}
	lctx, cancel := context.WithTimeout(ctx, replyLookupTimeout)
	defer cancel()
	evt, err := x.acct.Client().GetEvent(lctx, room, e)
	if err != nil || evt.RoomID != room || evt.Sender == "" {
		x.acct.Log().Debug("reply segment dropped: the replied-to event is not known to be in this room", "room_id", room, "in_reply_to", e, "error", err)
		return "", false
	}
	return evt.Sender, true
}

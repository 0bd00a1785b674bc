package matrix

import (
	"context"
	"sync"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/matrix/rooms"
)

// plaintextGuard leaves out the unencrypted messages that arrive in an encrypted room when the
// bot does end-to-end encryption: anyone who can put an unencrypted event into the room (a
// hostile homeserver, for one) could forge them, and a OneBot or Satori client could not tell
// them from decrypted ones. mautrix drops them only when encryption is required; here they are
// dropped unless GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS, counted (e2ee_plaintext_dropped_total) and
// logged once per room; they are kept out of the message index (get_msg) and the history
// (Satori message.list) as well. State events (the room's own m.room.encryption among them), reactions and
// redactions (Element sends both unencrypted) and the bot's own events are not affected.
type plaintextGuard struct {
	acct   *account.Account
	device *crypt.Device
	state  *rooms.State
	allow  bool     // GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS
	logged sync.Map // id.RoomID → struct{}: rooms whose first drop was logged
}

// refuses tells whether evt, an event that did not arrive encrypted, is left out, the room being
// encrypted or not: the decision alone, for the sync (drop), the message index (rooms.Index
// Refuse) and the history (messenger.historyEvent).
func (g *plaintextGuard) refuses(evt *event.Event, encrypted bool) bool {
	if g == nil || g.allow || !encrypted || evt.StateKey != nil || evt.Type != event.EventMessage && evt.Type != event.EventSticker ||
		evt.Mautrix.WasEncrypted || evt.Sender == g.acct.UserID() {
		return false
	}
	return g.device.Machine() != nil || g.device.Enabled() // without E2EE the bot reads no encrypted message either
}

// drop tells whether evt, an event of the timeline that did not arrive encrypted, must be left
// out, and counts and logs it when it must. The room's encryption is the state store's, which the
// timeline's state events before evt have updated; a store that cannot tell counts as encrypted.
func (g *plaintextGuard) drop(ctx context.Context, evt *event.Event) bool {
	// The cheap checks first: the room's encryption (a state store read) is asked only for a
	// message that would be refused in an encrypted room, not for every event of the sync.
	if !g.refuses(evt, true) || !g.state.Encrypted(ctx, evt.RoomID) {
		return false
	}
	g.device.CountPlaintextDropped()
	if _, seen := g.logged.LoadOrStore(evt.RoomID, struct{}{}); !seen {
		g.acct.Log().Info("dropped an unencrypted message in an encrypted room (anyone who can inject an event, "+
			"such as the homeserver, could have forged it); later ones in this room are only counted in "+
			"e2ee_plaintext_dropped_total. Set GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true to deliver them",
			"room_id", evt.RoomID, "event_id", evt.ID, "sender", evt.Sender)
	} else {
		g.acct.Log().Debug("dropped an unencrypted message in an encrypted room", "room_id", evt.RoomID, "event_id", evt.ID)
	}
	return true
}

// forget lets the next drop in room be logged again (the bot left or came back).
func (g *plaintextGuard) forget(room id.RoomID) { g.logged.Delete(room) }

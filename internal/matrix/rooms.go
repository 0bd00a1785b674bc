package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// directRooms is the bot's m.direct account data both ways.
type directRooms struct {
	rooms map[id.RoomID]id.UserID
	users map[id.UserID][]id.RoomID
}

func newDirectRooms() directRooms {
	return directRooms{rooms: map[id.RoomID]id.UserID{}, users: map[id.UserID][]id.RoomID{}}
}

func (s *Session) setDirect(content event.DirectChatsEventContent) {
	d := newDirectRooms()
	for u, rooms := range content {
		for _, r := range rooms {
			d.rooms[r] = u
		}
		d.users[u] = append([]id.RoomID(nil), rooms...)
	}
	s.directMu.Lock()
	s.direct = d
	s.directMu.Unlock()
}

func (s *Session) isDirect(room id.RoomID) bool {
	s.directMu.RLock()
	defer s.directMu.RUnlock()
	_, ok := s.direct.rooms[room]
	return ok
}

// directRoomWith returns the newest direct room with u the bot is still in, or "".
func (s *Session) directRoomWith(ctx context.Context, u id.UserID) id.RoomID {
	s.directMu.RLock()
	rooms := slices.Clone(s.direct.users[u])
	s.directMu.RUnlock()
	for i := len(rooms) - 1; i >= 0; i-- {
		if s.opts.StateStore == nil || s.opts.StateStore.IsInRoom(ctx, rooms[i], s.UserID()) {
			return rooms[i]
		}
	}
	return ""
}

// loadDirect reads m.direct at start: an incremental sync only reports later changes.
func (s *Session) loadDirect(ctx context.Context) {
	var content event.DirectChatsEventContent
	err := s.client.GetAccountData(ctx, event.AccountDataDirectChats.Type, &content)
	if err != nil && !errors.Is(err, mautrix.MNotFound) {
		s.log.Warn("failed to load direct rooms (m.direct)", "error", err)
		return
	}
	s.setDirect(content)
}

// addDirect records room as a direct room with u in m.direct, on the homeserver too.
func (s *Session) addDirect(ctx context.Context, u id.UserID, room id.RoomID) error {
	s.directMu.Lock()
	content := event.DirectChatsEventContent{}
	for user, rooms := range s.direct.users {
		content[user] = slices.Clone(rooms)
	}
	s.directMu.Unlock()
	if slices.Contains(content[u], room) {
		return nil
	}
	content[u] = append(content[u], room)
	if err := s.client.SetAccountData(ctx, event.AccountDataDirectChats.Type, content); err != nil {
		return err
	}
	s.setDirect(content)
	return nil
}

func (s *Session) handleAccountData(_ context.Context, evt *event.Event) {
	if evt.Type.Type == event.AccountDataDirectChats.Type {
		if c, ok := evt.Content.Parsed.(*event.DirectChatsEventContent); ok {
			s.setDirect(*c)
		}
	}
}

func (s *Session) loadProfile(ctx context.Context) {
	resp, err := s.client.GetOwnDisplayName(ctx)
	if err != nil {
		s.log.Debug("failed to load own display name", "error", err)
		return
	}
	name := resp.DisplayName
	s.displayName.Store(&name)
}

// memberName is the display name of u in room, or "".
func (s *Session) memberName(ctx context.Context, room id.RoomID, u id.UserID) string {
	if s.opts.StateStore == nil {
		return ""
	}
	m, err := s.opts.StateStore.TryGetMember(ctx, room, u)
	if err != nil || m == nil {
		return ""
	}
	return m.Displayname
}

// indexMessage keeps a message in the message index, for get_msg, replies and recalls.
func (s *Session) indexMessage(ctx context.Context, evt *event.Event) {
	content := evt.Content.VeryRaw
	if content == nil {
		content, _ = json.Marshal(evt.Content.Parsed)
	}
	err := s.opts.DB.PutMessage(ctx, storage.Message{
		BotUserID: string(s.UserID()), RoomID: string(evt.RoomID), EventID: string(evt.ID),
		Sender: string(evt.Sender), Time: time.UnixMilli(evt.Timestamp), Content: content,
		Encrypted: evt.Mautrix.WasEncrypted || s.roomEncrypted(ctx, evt.RoomID),
	})
	if err != nil {
		s.log.Warn("failed to index message", "event_id", evt.ID, "error", err)
	}
}

// roomEncrypted tells whether room is encrypted, as far as the state store knows. The message
// index keeps the bodies of such rooms' messages only for GATEWAY_ENCRYPTED_BODY_RETENTION. When
// the state store cannot tell, the room counts as encrypted.
func (s *Session) roomEncrypted(ctx context.Context, room id.RoomID) bool {
	if s.opts.StateStore == nil {
		return false
	}
	enc, err := s.opts.StateStore.IsEncrypted(ctx, room)
	return enc || err != nil
}

// indexedIn looks an event up in the bot's message index: its sender ("" when the gateway never
// saw it), and whether it is known to be in another room than room. Whatever relates to an event
// (a reply, reaction, edit or redaction) is only ever resolved within one room.
func (s *Session) indexedIn(ctx context.Context, room id.RoomID, e id.EventID) (sender id.UserID, elsewhere bool) {
	m, err := s.opts.DB.GetMessage(ctx, string(s.UserID()), string(e))
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

// replyTarget resolves the event a message in room replies to (see replyResolver): from the
// message index, or else from the homeserver, whose /rooms/{room}/event/{id} answers only for an
// event of that room the bot may see. Anything else drops the reply segment.
func (s *Session) replyTarget(ctx context.Context, room id.RoomID, e id.EventID) (id.UserID, bool) {
	sender, elsewhere := s.indexedIn(ctx, room, e)
	switch {
	case elsewhere:
		s.log.Info("reply segment dropped: the replied-to event is in another room", "room_id", room, "in_reply_to", e)
		return "", false
	case sender != "":
		return sender, true
	}
	lctx, cancel := context.WithTimeout(ctx, replyLookupTimeout)
	defer cancel()
	evt, err := s.client.GetEvent(lctx, room, e)
	if err != nil || evt.RoomID != room || evt.Sender == "" {
		s.log.Debug("reply segment dropped: the replied-to event is not known to be in this room", "room_id", room, "in_reply_to", e, "error", err)
		return "", false
	}
	return evt.Sender, true
}

// leftRoom reports whether the bot is known to have left (or been kicked or banned from) room.
// Unknown membership is not "left": the state store may not hold the bot's own member event.
func (s *Session) leftRoom(ctx context.Context, room id.RoomID) bool {
	if s.opts.StateStore == nil {
		return false
	}
	m, err := s.opts.StateStore.TryGetMember(ctx, room, s.UserID())
	if err != nil || m == nil {
		return false
	}
	return m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan
}

// handleInvite accepts an invite when the bot's auto-accept settings allow the inviter; otherwise
// it leaves the invite pending and tells the OneBot clients, which may accept or decline it.
func (s *Session) handleInvite(ctx context.Context, b *batch, room id.RoomID, state []*event.Event) error {
	var inviter id.UserID
	direct := false
	var ts time.Time
	roomName := ""
	for _, evt := range state {
		if evt.Type == event.StateMember && evt.GetStateKey() == string(s.UserID()) {
			inviter = evt.Sender
			if m, ok := evt.Content.Parsed.(*event.MemberEventContent); ok {
				direct = m.IsDirect
			}
			if evt.Timestamp > 0 {
				ts = time.UnixMilli(evt.Timestamp)
			}
		}
		if evt.Type == event.StateRoomName {
			if n, ok := evt.Content.Parsed.(*event.RoomNameEventContent); ok {
				roomName = n.Name
			}
		}
	}
	if ts.IsZero() {
		ts = time.Now()
	}
	s.invitesMu.Lock()
	seen := s.invites[room]
	s.invites[room] = true
	s.invitesMu.Unlock()
	if seen {
		return nil
	}
	if inviter == "" || !s.opts.Bot.MayAutoAccept(inviter) {
		s.log.Info("invite left pending", "room_id", room, "inviter", inviter)
		return s.publishInvite(b, model.Invite{RoomID: room, Inviter: inviter, RoomName: roomName, Direct: direct}, ts)
	}
	s.forgetEncryption(room)
	if _, err := s.client.JoinRoomByID(ctx, room); err != nil {
		s.log.Error("failed to accept invite", "room_id", room, "inviter", inviter, "error", err)
		s.invitesMu.Lock()
		delete(s.invites, room)
		s.invitesMu.Unlock()
		return nil
	}
	s.log.Info("accepted invite", "room_id", room, "inviter", inviter, "direct", direct)
	if direct && inviter != "" {
		if err := s.addDirect(ctx, inviter, room); err != nil {
			s.log.Warn("failed to mark room as direct", "room_id", room, "error", err)
		}
	}
	return nil
}

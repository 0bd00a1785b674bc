package v11

import (
	"context"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Kind says which v11 number space an ID is in (face.IDKind).
type Kind = face.IDKind

const (
	KindUser  = face.KindUser  // user_id, self_id
	KindRoom  = face.KindRoom  // group_id
	KindEvent = face.KindEvent // message_id
)

// ErrNotFound is what a Mapper returns (wrapped or not) for a number it never gave out.
var ErrNotFound = face.ErrUnknownNumber

// Mapper is the persistent two-way map between Matrix IDs and v11 numbers (the hub adapts the
// storage's).
type Mapper = face.Mapper

// Resolve numbers every Matrix ID that ev's v11 form carries (refs), allocating numbers for new
// ones, in the order the encoder reads them; ctx bounds the lookups. selfID is the bot's
// self_id: in a message the bot is its self_id, never a number of the map.
func Resolve(ctx context.Context, m Mapper, ev *model.Event, selfID int64) (face.IDs, error) {
	var skip id.UserID
	if ev.Kind == model.KindMessage && selfID != 0 {
		skip = ev.Self
	}
	return resolve(ctx, m, refs(ev), skip)
}

// ResolveSegments numbers the Matrix IDs of segments (mentions, replies) for ToSegments on the
// connection of self (Self{} for none).
func ResolveSegments(ctx context.Context, m Mapper, self Self, segs []model.Segment) (face.IDs, error) {
	var rs []ref
	segRefs(&rs, segs)
	var skip id.UserID
	if self.SelfID != 0 {
		skip = self.User
	}
	return resolve(ctx, m, rs, skip)
}

func resolve(ctx context.Context, m Mapper, rs []ref, skip id.UserID) (face.IDs, error) {
	ids := face.IDs{}
	for _, r := range rs {
		s := r.id
		if s == "" || (r.kind == KindUser && skip != "" && s == string(skip)) {
			continue
		}
		if _, ok := ids[s]; ok {
			continue
		}
		n, err := m.V11ID(ctx, r.kind, s)
		if err != nil {
			return nil, fmt.Errorf("failed to map %s to a v11 id: %w", s, err)
		}
		ids[s] = n
	}
	return ids, nil
}

// ref is one Matrix ID to number.
type ref struct {
	kind Kind
	id   string
}

// refs lists the Matrix IDs that the v11 form of ev numbers (encodeNotice, MessageEvent,
// ToSegments read exactly these).
func refs(ev *model.Event) []ref {
	var out []ref
	user := func(us ...id.UserID) {
		for _, u := range us {
			out = append(out, ref{KindUser, string(u)})
		}
	}
	event := func(e id.EventID) { out = append(out, ref{KindEvent, string(e)}) }
	segs := func(ss []model.Segment) { segRefs(&out, ss) }
	room := func(r id.RoomID, direct bool) {
		if !direct {
			out = append(out, ref{KindRoom, string(r)})
		}
	}
	switch ev.Kind {
	case model.KindMessage:
		m := ev.Message
		event(m.EventID)
		user(m.Sender)
		segs(m.Segments)
		room(m.RoomID, m.Direct)
	case model.KindMember:
		c := ev.Member
		user(c.UserID)
		room(c.RoomID, c.Direct)
		if !c.Direct {
			user(c.Operator)
		}
	case model.KindDelete:
		d := ev.Delete
		user(d.Sender)
		event(d.MessageID)
		room(d.RoomID, d.Direct)
		if !d.Direct {
			user(d.Operator)
		}
	case model.KindReaction:
		r := ev.Reaction
		room(r.RoomID, r.Direct)
		user(r.Sender)
		event(r.Target)
	case model.KindEdit:
		e := ev.Edit
		room(e.RoomID, e.Direct)
		user(e.Sender)
		event(e.Target)
		segs(e.Segments)
	case model.KindTyping:
		t := ev.Typing
		room(t.RoomID, t.Direct)
		user(t.UserIDs...)
	case model.KindReceipt:
		r := ev.Receipt
		room(r.RoomID, r.Direct)
		user(r.UserID)
		event(r.EventID)
	case model.KindInvite:
		inv := ev.Invite
		user(inv.Inviter)
		room(inv.RoomID, inv.Direct)
	}
	return out
}

// segRefs adds the Matrix IDs of segments: mentioned users and replied-to events.
func segRefs(out *[]ref, segs []model.Segment) {
	for _, s := range segs {
		switch s := s.(type) {
		case model.Mention:
			*out = append(*out, ref{KindUser, string(s.User)})
		case model.Reply:
			*out = append(*out, ref{KindEvent, string(s.Event)})
		}
	}
}

// Numbers are the v11 numbers of one event's Matrix IDs (Resolve), on one bot's connection:
// the bot itself is its self_id.
type Numbers struct {
	IDs    face.IDs
	Self   id.UserID // the bot whose connection this is ("" = none)
	SelfID int64
}

func (n Numbers) number(what, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, ok := n.IDs[s]
	if !ok {
		return 0, errUnresolved(what, s)
	}
	return v, nil
}

// errEmpty: messages and segments never carry an empty Matrix ID (notices number it 0).
var errEmpty = errors.New("matrix id is empty")

// nonEmpty is errEmpty for an empty ID, else the number look gives.
func nonEmpty[T ~string](s T, look func(T) (int64, error)) (int64, error) {
	if s == "" {
		return 0, errEmpty
	}
	return look(s)
}

// User is a user's number; the bot itself is its self_id.
func (n Numbers) User(u id.UserID) (int64, error) {
	if n.Self != "" && u == n.Self && n.SelfID != 0 {
		return n.SelfID, nil
	}
	return n.number("user", string(u))
}

// Room is a room's number (group_id).
func (n Numbers) Room(r id.RoomID) (int64, error) { return n.number("room", string(r)) }

// Event is an event's number (message_id).
func (n Numbers) Event(e id.EventID) (int64, error) { return n.number("event", string(e)) }

// LookupError is the error of a number a client sent that the map does not know: not found.
func LookupError(err error, format string, args ...any) error {
	if errors.Is(err, ErrNotFound) {
		return model.Errorf(model.ErrNotFound, format, args...)
	}
	return fmt.Errorf("failed to look up id: %w", err)
}

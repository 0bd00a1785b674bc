package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Index is the bot's message index (storage gateway messages), for get_msg, replies, recalls,
// reactions and edits, with what the homeserver said about replied-to events it does not hold.
type Index struct {
	acct    *account.Account
	state   *State
	replies replyCache
	// Refuse, when set, keeps a message out of PutRoom's index: an unencrypted one in an
	// encrypted room (encrypted tells the room's state at the message), which the sync drops.
	Refuse func(evt *event.Event, encrypted bool) bool
}

// NewIndex returns acct's message index; state tells which rooms are encrypted.
func NewIndex(acct *account.Account, state *State) *Index {
	return &Index{acct: acct, state: state, replies: replyCache{entries: map[replyKey]replyEntry{}}}
}

// Put keeps a received message in the index (held until Write, as PutRoom).
func (x *Index) Put(ctx context.Context, evt *event.Event) {
	x.acct.DB.Messages().HoldMessages([]storage.Message{x.message(evt, evt.Mautrix.WasEncrypted || x.state.Encrypted(ctx, evt.RoomID))})
}

// PutRoom keeps received messages of room in the index, in timeline order: an m.room.encryption
// state event among evts counts for the messages after it. evts may hold events other than
// messages (and nil), which it skips. They are held in memory (the index answers from there)
// until Write stores them with one transaction: the sync loop does that after handing the batch
// over and before saving its position, so that the store's commit is not on the way of an event
// to the clients and the position still never moves past a message that is not stored.
func (x *Index) PutRoom(ctx context.Context, room id.RoomID, evts []*event.Event) {
	var ms []storage.Message
	encrypted := false
	for _, evt := range evts {
		switch {
		case evt == nil:
		case evt.Type == event.StateEncryption && evt.StateKey != nil && *evt.StateKey == "":
			encrypted = true
		case IsMessage(evt):
			if ms == nil { // the store is asked once, when there is a message to index
				encrypted = encrypted || x.state.Encrypted(ctx, room)
			}
			if x.Refuse != nil && x.Refuse(evt, encrypted) {
				continue
			}
			ms = append(ms, x.message(evt, encrypted || evt.Mautrix.WasEncrypted))
		}
	}
	x.acct.DB.Messages().HoldMessages(ms)
}

// Write stores the messages PutRoom and Put hold (a failure to store one is logged).
func (x *Index) Write(ctx context.Context) {
	x.acct.DB.Messages().WriteHeld(ctx, string(x.acct.UserID()), func(m storage.Message, err error) {
		x.acct.Log().Warn("failed to index message", "event_id", m.EventID, "error", err)
	})
}

// IsMessage tells whether evt is an m.room.message with parsed content: what the index keeps.
func IsMessage(evt *event.Event) bool {
	if evt.Type != event.EventMessage {
		return false
	}
	_, ok := evt.Content.Parsed.(*event.MessageEventContent)
	return ok
}

func (x *Index) message(evt *event.Event, encrypted bool) storage.Message {
	content := evt.Content.VeryRaw
	if content == nil {
		content, _ = json.Marshal(evt.Content.Parsed)
	}
	return storage.Message{
		BotUserID: string(x.acct.UserID()), RoomID: string(evt.RoomID), EventID: string(evt.ID),
		Sender: string(evt.Sender), Time: time.UnixMilli(evt.Timestamp), Content: content, Encrypted: encrypted,
	}
}

// In looks an event up in the bot's message index: its sender ("" when the gateway never saw
// it), and whether it is known to be in another room than room. Whatever relates to an event (a
// reply, reaction, edit or redaction) is only ever resolved within one room.
func (x *Index) In(ctx context.Context, room id.RoomID, e id.EventID) (sender id.UserID, elsewhere bool) {
	m, err := x.acct.DB.Messages().GetMessage(ctx, string(x.acct.UserID()), string(e))
	if err != nil {
		return "", false
	}
	if id.RoomID(m.RoomID) != room {
		return "", true
	}
	return id.UserID(m.Sender), false
}

// replyLookupTimeout bounds asking the homeserver about replied-to events the gateway never saw:
// one lookup, or all the lookups of one Prefetch together.
const replyLookupTimeout = 5 * time.Second

// prefetchParallel is how many lookups one Prefetch has in flight at once.
const prefetchParallel = 8

// ReplyTarget resolves the event a message in room replies to: from the message index, or else
// from the homeserver, whose /rooms/{room}/event/{id} answers only for an event of that room the
// bot may see (its answer, or its failure, is kept: see replyCache). Anything else drops the
// reply segment (ok false).
func (x *Index) ReplyTarget(ctx context.Context, room id.RoomID, e id.EventID) (id.UserID, bool) {
	sender, elsewhere := x.In(ctx, room, e)
	switch {
	case elsewhere:
		x.acct.Log().Info("reply segment dropped: the replied-to event is in another room", "room_id", room, "in_reply_to", e)
		return "", false
	case sender != "":
		return sender, true
	}
	if sender, known := x.replies.get(room, e, time.Now()); known {
		if sender == "" {
			x.acct.Log().Debug("reply segment dropped: the replied-to event is not known to be in this room (asked before)", "room_id", room, "in_reply_to", e)
		}
		return sender, sender != ""
	}
	lctx, cancel := context.WithTimeout(ctx, replyLookupTimeout)
	defer cancel()
	sender = x.lookup(lctx, room, e)
	return sender, sender != ""
}

// Ref names an event of a room.
type Ref struct {
	Room  id.RoomID
	Event id.EventID
}

// Prefetch asks the homeserver at once (at most prefetchParallel at a time, all within one
// replyLookupTimeout) about the replied-to events in targets that the index does not hold, so
// that the ReplyTarget of each message answers from what was kept, and a sync batch waits for
// one round of lookups instead of one lookup after another.
func (x *Index) Prefetch(ctx context.Context, targets []Ref) {
	var ask []Ref
	now := time.Now()
	for _, t := range targets {
		if slices.Contains(ask, t) {
			continue
		}
		if sender, elsewhere := x.In(ctx, t.Room, t.Event); sender != "" || elsewhere {
			continue
		}
		if _, known := x.replies.get(t.Room, t.Event, now); known {
			continue
		}
		ask = append(ask, t)
	}
	if len(ask) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, replyLookupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	slots := make(chan struct{}, prefetchParallel)
	for _, t := range ask {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			x.lookup(lctx, t.Room, t.Event)
		}()
	}
	wg.Wait()
}

// lookup asks the homeserver for the sender of e in room and keeps the answer; "" when it
// cannot tell that e is an event of room.
func (x *Index) lookup(ctx context.Context, room id.RoomID, e id.EventID) id.UserID {
	evt, err := x.acct.Client().GetEvent(ctx, room, e)
	if err != nil || evt.RoomID != room || evt.Sender == "" {
		x.acct.Log().Debug("reply segment dropped: the replied-to event is not known to be in this room", "room_id", room, "in_reply_to", e, "error", err)
		if !errors.Is(err, context.Canceled) { // the caller gave up: nothing was learnt
			x.replies.put(room, e, "", time.Now())
		}
		return ""
	}
	x.replies.put(room, e, evt.Sender, time.Now())
	return evt.Sender
}

// replyCache keeps what the homeserver said about replied-to events: a sender for good (an
// event's sender and room never change), a failed lookup for replyMissFor (the homeserver may
// answer later; until then a reply to that event is dropped without asking again). It holds at
// most replyCacheSize entries, the oldest going first.
type replyCache struct {
	mu      sync.Mutex
	entries map[replyKey]replyEntry
	order   []replyKey // oldest first
}

type replyKey struct {
	room id.RoomID
	evt  id.EventID
}

type replyEntry struct {
	sender id.UserID // "" = the lookup failed
	at     time.Time
}

const (
	replyCacheSize = 4096
	replyMissFor   = time.Minute
)

// get returns what is kept about e in room (known false: nothing, or a failure that is too old).
func (c *replyCache) get(room id.RoomID, e id.EventID, now time.Time) (sender id.UserID, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	entry, ok := c.entries[replyKey{room, e}]
	if !ok || entry.sender == "" && now.Sub(entry.at) > replyMissFor {
		return "", false
	}
	return entry.sender, true
}

func (c *replyCache) put(room id.RoomID, e id.EventID, sender id.UserID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := replyKey{room, e}
	if _, ok := c.entries[k]; !ok {
		c.order = append(c.order, k)
	}
	c.entries[k] = replyEntry{sender: sender, at: now}
	for len(c.order) > replyCacheSize {
		delete(c.entries, c.order[0])
		c.order = c.order[1:]
	}
}

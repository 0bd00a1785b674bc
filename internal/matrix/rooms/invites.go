package rooms

import (
	"sync"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Invites are the invites a bot has handled in this process, and those left to a OneBot client
// to answer.
type Invites struct {
	mu      sync.Mutex
	seen    map[id.RoomID]bool         // invites already handled in this process
	pending map[id.RoomID]model.Invite // invites left to a OneBot client to answer
}

// NewInvites returns no invites.
func NewInvites() *Invites {
	return &Invites{seen: map[id.RoomID]bool{}, pending: map[id.RoomID]model.Invite{}}
}

// See records the invite to room as handled; it reports whether it was already.
func (i *Invites) See(room id.RoomID) (before bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	before = i.seen[room]
	i.seen[room] = true
	return before
}

// Unsee forgets that the invite to room was handled (accepting it failed: the next sync tries again).
func (i *Invites) Unsee(room id.RoomID) {
	i.mu.Lock()
	delete(i.seen, room)
	i.mu.Unlock()
}

// Leave records inv as left to a client.
func (i *Invites) Leave(inv model.Invite) {
	i.mu.Lock()
	i.pending[inv.RoomID] = inv
	i.mu.Unlock()
}

// Take returns and forgets the pending invite to room (zero when none).
func (i *Invites) Take(room id.RoomID) model.Invite {
	i.mu.Lock()
	defer i.mu.Unlock()
	inv := i.pending[room]
	delete(i.pending, room)
	return inv
}

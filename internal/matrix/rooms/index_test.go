package rooms

import (
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// A replied-to event's sender is kept for good, per room; a failed lookup only for
// replyMissFor; and the cache holds at most replyCacheSize entries, the oldest going first.
func TestReplyCache(t *testing.T) {
	c := replyCache{entries: map[replyKey]replyEntry{}}
	now := time.Now()
	const roomA, roomB = id.RoomID("!a:x"), id.RoomID("!b:x")
	c.put(roomA, "$e", "@alice:x", now)
	c.put(roomA, "$gone", "", now)
	if s, ok := c.get(roomA, "$e", now.Add(24*time.Hour)); !ok || s != "@alice:x" {
		t.Errorf("a sender: got %q %v, want it kept", s, ok)
	}
	if _, ok := c.get(roomB, "$e", now); ok {
		t.Error("an event looked up in room A is known in room B")
	}
	if s, ok := c.get(roomA, "$gone", now.Add(replyMissFor/2)); !ok || s != "" {
		t.Errorf("a recent failure: got %q %v, want known and empty", s, ok)
	}
	if _, ok := c.get(roomA, "$gone", now.Add(replyMissFor+time.Second)); ok {
		t.Error("an old failure is still known: the homeserver is never asked again")
	}
	for i := range replyCacheSize {
		c.put(roomB, id.EventID(fmt.Sprintf("$%d", i)), "@bob:x", now)
	}
	if len(c.entries) != replyCacheSize || len(c.order) != replyCacheSize {
		t.Fatalf("%d entries, %d in order, want %d", len(c.entries), len(c.order), replyCacheSize)
	}
	if _, ok := c.get(roomA, "$e", now); ok {
		t.Error("the oldest entry was not evicted")
	}
	if _, ok := c.get(roomB, id.EventID(fmt.Sprintf("$%d", replyCacheSize-1)), now); !ok {
		t.Error("the newest entry was evicted")
	}
}

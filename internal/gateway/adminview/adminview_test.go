package adminview

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"
)

// The admin page's last events per bot: the newest MaxEvents, oldest first, after any
// number of events; and keeping them costs no allocation per event once a bot's list is full
// (it is on the path of every incoming message).
func TestRecentEventsKeepsTheNewestWithoutAllocating(t *testing.T) {
	var r Recent
	const bot = id.UserID("@bot:example.org")
	n := 0
	add := func() {
		r.Add(bot, Event{ID: fmt.Sprintf("$%d", n)})
		n++
	}
	for range 3*MaxEvents + 7 {
		add()
	}
	got := r.Snapshot()[bot]
	if len(got) != MaxEvents {
		t.Fatalf("%d events kept, want %d", len(got), MaxEvents)
	}
	for i, e := range got {
		if want := fmt.Sprintf("$%d", n-MaxEvents+i); e.ID != want {
			t.Fatalf("event %d is %s, want %s (oldest first): %v", i, e.ID, want, got)
		}
	}
	e := Event{ID: "$same"}
	if allocs := testing.AllocsPerRun(100, func() { r.Add(bot, e) }); allocs != 0 {
		t.Errorf("%v allocations per event added to a full list, want 0", allocs)
	}
}

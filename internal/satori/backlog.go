package satori

import (
	"sync"

	"maunium.net/go/mautrix/id"
)

// frame is one encoded event of the stream, kept for resume.
type frame struct {
	sn   int64
	bot  id.UserID
	data []byte // the whole EVENT signal
}

// backlog keeps the last events in sn order, so that a client that IDENTIFYs with the last sn
// it saw gets the ones it missed. sn grows by one per event from a start taken from the clock
// (milliseconds), so that after a restart the numbers keep growing and a client's old sn is
// never mistaken for a new one.
type backlog struct {
	mu     sync.Mutex
	max    int
	next   int64
	frames []frame // ring: frames[head] is the oldest
	head   int
}

func newBacklog(max int, start int64) *backlog {
	if max < 1 {
		max = 1
	}
	return &backlog{max: max, next: start}
}

// add numbers an event with the next sn, encodes it with encode(sn) and keeps it; the oldest
// is dropped when the backlog is full.
func (b *backlog) add(bot id.UserID, encode func(sn int64) []byte) frame {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := frame{sn: b.next, bot: bot, data: encode(b.next)}
	b.next++
	if len(b.frames) < b.max {
		b.frames = append(b.frames, f)
	} else {
		b.frames[b.head] = f
		b.head = (b.head + 1) % b.max
	}
	return f
}

// after returns the kept frames with an sn above sn, oldest first, and whether the backlog
// still held every frame after sn (false: some were dropped before the client came back).
func (b *backlog) after(sn int64) ([]frame, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []frame
	complete := true
	for i := range b.frames {
		f := b.frames[(b.head+i)%len(b.frames)]
		if i == 0 && f.sn > sn+1 {
			complete = false
		}
		if f.sn > sn {
			out = append(out, f)
		}
	}
	if len(b.frames) == 0 && b.next > sn+1 {
		complete = false
	}
	return out, complete
}

// last is the sn of the newest event (start-1 when none).
func (b *backlog) last() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next - 1
}

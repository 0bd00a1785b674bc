package bench

import (
	"encoding/json"
	"sync"
	"time"
)

// Tally counts the message events the OneBot v12 clients of several gateways receive, per bot
// and message, so that a failover can be judged: which messages never arrived (lost), which
// arrived more than once, and whether each repeat was marked "matrix.replayed" (a replay the
// client can recognise) or not (an unmarked duplicate). It also keeps when each bot's events
// arrived, for the time from a kill to a bot's first event on another gateway.
type Tally struct {
	mu   sync.Mutex
	seen map[string]map[string][]bool // bot user ID → message_id → replayed flag of each arrival, in order
	at   map[string][]time.Time       // bot user ID → arrival times
}

// NewTally returns an empty tally.
func NewTally() *Tally {
	return &Tally{seen: map[string]map[string][]bool{}, at: map[string][]time.Time{}}
}

// v12Message is what Add reads of a v12 event frame.
type v12Message struct {
	Type      string `json:"type"`
	MessageID string `json:"message_id"`
	Replayed  bool   `json:"matrix.replayed"`
	Self      struct {
		UserID string `json:"user_id"`
	} `json:"self"`
}

// Add records frame, read at at, if it is a v12 message event naming its bot and message; it
// reports whether it was one. Anything else (meta events, action answers, bad JSON) is ignored.
func (t *Tally) Add(frame []byte, at time.Time) bool {
	var m v12Message
	if json.Unmarshal(frame, &m) != nil || m.Type != "message" || m.MessageID == "" || m.Self.UserID == "" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	msgs := t.seen[m.Self.UserID]
	if msgs == nil {
		msgs = map[string][]bool{}
		t.seen[m.Self.UserID] = msgs
	}
	msgs[m.MessageID] = append(msgs[m.MessageID], m.Replayed)
	t.at[m.Self.UserID] = append(t.at[m.Self.UserID], at)
	return true
}

// FirstAfter is when the first message event of bot arrived at or after since (false: none yet).
func (t *Tally) FirstAfter(bot string, since time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	found := false
	for _, at := range t.at[bot] { // the readers of several connections add: not sorted
		if !at.Before(since) && (!found || at.Before(first)) {
			first, found = at, true
		}
	}
	return first, found
}

// Delivered tells whether every bot has received every message at least once.
func (t *Tally) Delivered(bots, messages []string) bool {
	return t.Count(bots, messages).Lost == 0
}

// Loss is the verdict on a set of expected deliveries.
type Loss struct {
	Expected int // bots × messages
	Lost     int // expected deliveries that never arrived
	Marked   int // repeats marked replayed
	Unmarked int // repeats not marked: duplicates a client cannot tell apart
}

// Count judges the deliveries of messages to each of bots: each (bot, message) pair must arrive
// once; the first arrival is the delivery, every later one a repeat, marked or not.
func (t *Tally) Count(bots, messages []string) Loss {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := Loss{Expected: len(bots) * len(messages)}
	for _, b := range bots {
		for _, msg := range messages {
			arrivals := t.seen[b][msg]
			if len(arrivals) == 0 {
				l.Lost++
				continue
			}
			for _, replayed := range arrivals[1:] {
				if replayed {
					l.Marked++
				} else {
					l.Unmarked++
				}
			}
		}
	}
	return l
}

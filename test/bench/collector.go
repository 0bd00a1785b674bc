package bench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Collector receives arrival reports from the observers (the plain /sync client, the OneBot
// clients, the NoneBot2 plugins) as UDP datagrams on loopback, "OBSERVER KEY" (KEY: an event ID,
// or "body:TEXT" for a reply seen by its text), and stamps each with the time it was received.
// Every observer pays the same few microseconds for the datagram, so comparisons between them
// are fair.
type Collector struct {
	conn *net.UDPConn

	mu   sync.Mutex
	seen map[string]map[string]time.Time // observer → key → first arrival
	dups map[string]int                  // observer → repeated keys
	wake chan struct{}
}

// NewCollector listens on a free UDP port of 127.0.0.1.
func NewCollector() (*Collector, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("failed to listen for arrival reports: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	c := &Collector{conn: conn, seen: map[string]map[string]time.Time{}, dups: map[string]int{}, wake: make(chan struct{})}
	go c.read()
	return c, nil
}

// Addr is where observers send their reports (host:port).
func (c *Collector) Addr() string { return c.conn.LocalAddr().String() }

// Close stops listening.
func (c *Collector) Close() { _ = c.conn.Close() }

func (c *Collector) read() {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		at := time.Now()
		if err != nil {
			return
		}
		observer, key, ok := strings.Cut(string(buf[:n]), " ")
		if !ok || observer == "" || key == "" {
			continue
		}
		c.Record(observer, key, at)
	}
}

// Record notes that key reached observer at at (the first time counts; repeats are counted).
func (c *Collector) Record(observer, key string, at time.Time) {
	c.mu.Lock()
	m := c.seen[observer]
	if m == nil {
		m = map[string]time.Time{}
		c.seen[observer] = m
	}
	if _, ok := m[key]; ok {
		c.dups[observer]++
	} else {
		m[key] = at
	}
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

// At returns when key first reached observer.
func (c *Collector) At(observer, key string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.seen[observer][key]
	return at, ok
}

// Forget drops what observer reported for key, so that a new report of it (a restarted
// observer's "ready:NAME") can be waited for.
func (c *Collector) Forget(observer, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen[observer], key)
}

// Duplicates is how many reports of observer repeated a key.
func (c *Collector) Duplicates(observer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dups[observer]
}

// WaitAll waits until every key has reached every observer, or ctx ends; it returns, per
// observer, how many keys are still missing.
func (c *Collector) WaitAll(ctx context.Context, observers []string, keys []string) map[string]int {
	for {
		c.mu.Lock()
		missing := map[string]int{}
		total := 0
		for _, o := range observers {
			for _, k := range keys {
				if _, ok := c.seen[o][k]; !ok {
					missing[o]++
					total++
				}
			}
		}
		wake := c.wake
		c.mu.Unlock()
		if total == 0 {
			return missing
		}
		select {
		case <-ctx.Done():
			return missing
		case <-wake:
		}
	}
}

// Reporter sends arrival reports to a Collector.
type Reporter struct {
	conn     net.Conn
	observer string
}

// NewReporter reports as observer to the collector at addr.
func NewReporter(addr, observer string) (*Reporter, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the collector at %s: %w", addr, err)
	}
	return &Reporter{conn: conn, observer: observer}, nil
}

// Report sends one arrival (best effort: loopback UDP with a large receive buffer).
func (r *Reporter) Report(key string) { _, _ = r.conn.Write([]byte(r.observer + " " + key)) }

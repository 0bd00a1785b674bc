package fakes

import (
	"io"
	"net"
	"sync"
	"testing"
)

// FakeStallingRelay relays TCP connections to a real server (e.g. PostgreSQL) and, once Stall is
// called, holds every byte the clients send until Resume: the server then looks as slow as it
// likes to its clients, which wait in the middle of a round trip. Stalled is closed when the
// first held bytes arrive, so a test knows a client is waiting for an answer. It changes nothing
// else.
type FakeStallingRelay struct {
	Addr string // host:port to connect to instead of the server's

	ln     net.Listener
	target string

	mu      sync.Mutex
	stall   bool
	resume  chan struct{}
	stalled chan struct{}
	once    *sync.Once
}

// NewFakeStallingRelay relays to target (host:port); it is closed in t.Cleanup.
func NewFakeStallingRelay(t testing.TB, target string) *FakeStallingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &FakeStallingRelay{Addr: ln.Addr().String(), ln: ln, target: target, resume: make(chan struct{})}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, s)
			mu.Unlock()
			conns.Add(2)
			go func() { defer conns.Done(); r.copyHeld(s, c); _ = s.Close() }()
			go func() { defer conns.Done(); _, _ = io.Copy(c, s); _ = c.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		r.Resume()
		mu.Lock()
		for _, c := range open {
			_ = c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	return r
}

// Stall holds what the clients send from now on; the returned channel is closed when the first
// bytes are held.
func (r *FakeStallingRelay) Stall() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stall, r.resume, r.stalled, r.once = true, make(chan struct{}), make(chan struct{}), &sync.Once{}
	return r.stalled
}

// Resume sends on what was held, and everything after it.
func (r *FakeStallingRelay) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stall {
		r.stall = false
		close(r.resume)
	}
}

// copyHeld copies client bytes to the server, waiting while the relay stalls.
func (r *FakeStallingRelay) copyHeld(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			r.mu.Lock()
			stall, resume, stalled, once := r.stall, r.resume, r.stalled, r.once
			r.mu.Unlock()
			if stall {
				once.Do(func() { close(stalled) })
				<-resume
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

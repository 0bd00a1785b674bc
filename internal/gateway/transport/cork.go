// Package transport holds what the hub's transports do on the wire, apart from the hub: corked
// WebSocket connections that send queued frames with one write, the HTTP POST of one frame to a
// webhook and what its answer means, and the dial of a reverse WebSocket with its errors
// cleaned of secrets. The hub keeps the sinks, the fan-out, the outbox feeds and the loops
// that tie them to these.
package transport

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// The WebSocket library writes every message with a write of its own to the network (it flushes
// at the end of each frame). Under load, when several frames wait in a connection's queue, the
// write pump writes them all into a corked connection, which keeps them in memory, and then
// sends them with one write: one system call for a batch of events instead of one per event.

// MaxBatchFrames bounds how many queued frames one write takes (and so the memory it holds).
const MaxBatchFrames = 64

// CorkConn is the network connection under a WebSocket (accepted or dialled). Corked, writes collect in
// memory; Uncork sends them with one write. Writes stay in order: a write while the collected
// bytes go out waits for them.
type CorkConn struct {
	net.Conn

	batch  sync.Mutex // held by WriteQueued from Cork to Uncork, and by WriteNow
	mu     sync.Mutex
	corked bool
	buf    []byte
	writes int // writes to the network, for tests
}

func (c *CorkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.writes++
	return c.Conn.Write(p)
}

// Cork starts collecting writes.
func (c *CorkConn) Cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// Uncork sends what was collected with one write, within timeout, and stops collecting. When
// ctx ends first the write is cut short (its deadline moves to the past) and fails.
func (c *CorkConn) Uncork(ctx context.Context, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.Conn.SetWriteDeadline(time.Unix(1, 0))
		close(cut)
	})
	c.writes++
	_, err := c.Conn.Write(c.buf)
	if !stop() {
		<-cut // it moved the deadline: clear it only after that
	}
	_ = c.Conn.SetWriteDeadline(time.Time{})
	if cap(c.buf) > 1<<20 {
		c.buf = nil // a burst of large frames: do not keep its memory
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// Writes is how many writes reached the network.
func (c *CorkConn) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// corkingWriter hands the WebSocket library a CorkConn when it takes the connection over.
type corkingWriter struct {
	http.ResponseWriter
	conn *CorkConn
}

func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = nc.Close()
		return nil, nil, err
	}
	w.conn = &CorkConn{Conn: nc}
	return w.conn, bufio.NewReadWriter(brw.Reader, bufio.NewWriter(w.conn)), nil
}

// AcceptCorked is websocket.Accept with a CorkConn under the connection.
func AcceptCorked(w http.ResponseWriter, r *http.Request, opts *websocket.AcceptOptions) (*websocket.Conn, *CorkConn, error) {
	cw := &corkingWriter{ResponseWriter: w}
	c, err := websocket.Accept(cw, r, opts)
	if err != nil {
		return nil, nil, err
	}
	return c, cw.conn, nil
}

// DialCorked is websocket.Dial with a CorkConn under the connection (a reverse WebSocket): its
// own HTTP transport, a clone of the default one (proxy from the environment, TLS), whose dialer
// wraps the connection it makes.
func DialCorked(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, *CorkConn, *http.Response, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var cork *CorkConn
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cork = &CorkConn{Conn: nc}
		return cork, nil
	}
	o := *opts
	o.HTTPClient = &http.Client{Transport: tr}
	c, resp, err := websocket.Dial(ctx, url, &o)
	tr.CloseIdleConnections() // the upgraded connection is the WebSocket's; nothing else stays
	if err != nil {
		return nil, nil, resp, err
	}
	return c, cork, resp, nil
}

// WriteNow writes one frame that must be on its way to the network, not in a batch's memory,
// when it returns: a durable feed deletes the frame from its outbox then, and a batch whose
// network write failed would have lost it. It waits for a batch being collected (WriteQueued) to
// go out first.
func WriteNow(ctx context.Context, c *websocket.Conn, cork *CorkConn, frame []byte) error {
	if cork != nil {
		cork.batch.Lock()
		defer cork.batch.Unlock()
	}
	return c.Write(ctx, websocket.MessageText, frame)
}

// WriteQueued writes first and then, without waiting, whatever else is queued in out (at most
// MaxBatchFrames in all): through cork with one network write when there is one (nil: each
// frame is written by itself), within timeout.
//
// Into a corked connection the frames are written without a deadline of their own: they only
// reach memory, and the one network write (Uncork) has the deadline and ends when ctx does. With
// a context that can end, the WebSocket library arms and disarms a timer for every frame
// (context.AfterFunc), which under fan-out to many clients was a fifth of the gateway's CPU.
func WriteQueued(ctx context.Context, c *websocket.Conn, cork *CorkConn, first []byte, out <-chan []byte, timeout time.Duration) error {
	if cork == nil {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, first)
	}
	cork.batch.Lock()
	defer cork.batch.Unlock()
	cork.Cork()
	// No deadline and no end: a write into memory cannot block, and the lock the library takes
	// first is held only by writes that have a deadline of their own, or given up when the
	// connection closes.
	mem := context.WithoutCancel(ctx)
	err := c.Write(mem, websocket.MessageText, first)
	for n := 1; err == nil && n < MaxBatchFrames; n++ {
		var frame []byte
		select {
		case frame = <-out:
		default:
			n = MaxBatchFrames
			continue
		}
		err = c.Write(mem, websocket.MessageText, frame)
	}
	if uerr := cork.Uncork(ctx, timeout); err == nil && uerr != nil {
		err = fmt.Errorf("failed to write frames: %w", uerr)
	}
	return err
}

package transport

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/test/wait"
)

// Frames that wait in a connection's queue go out with one write to the network (a batch of at
// most MaxBatchFrames), in order and whole, large ones too; without a corked connection each
// frame is a write of its own.
func TestQueuedFramesGoOutInOneWrite(t *testing.T) {
	frames := [][]byte{[]byte(`{"n":0}`)}
	for i := 1; i < 50; i++ {
		frames = append(frames, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	frames[10] = bytes.Repeat([]byte("x"), 200_000) // more than the library's write buffer
	frames = append(frames, []byte(`{"n":"left for the next batch"}`))
	for i := len(frames); i < MaxBatchFrames+10; i++ {
		frames = append(frames, fmt.Appendf(nil, `{"after":%d}`, i))
	}
	writes := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, cork, err := AcceptCorked(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		out := make(chan []byte, len(frames))
		for _, f := range frames[1:] {
			out <- f
		}
		if err := WriteQueued(r.Context(), c, cork, frames[0], out, 5*time.Second); err != nil {
			t.Error(err)
		}
		first := cork.Writes()
		for len(out) > 0 {
			if err := WriteQueued(r.Context(), c, cork, <-out, out, 5*time.Second); err != nil {
				t.Error(err)
			}
		}
		writes <- first
		writes <- cork.Writes() - first
		_, _, _ = c.Read(r.Context()) // until the client closes
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/"), nil)
	c.SetReadLimit(1 << 20)
	for i, want := range frames {
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d = %.40q, want %.40q", i, got, want)
		}
	}
	if first, rest := <-writes, <-writes; first != 1 || rest != 1 {
		t.Errorf("%d frames took %d network writes, the %d after them %d; want 1 and 1", MaxBatchFrames, first, len(frames)-MaxBatchFrames, rest)
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
}

// A reverse WebSocket (the gateway dials) batches the same way: queued frames go out in one
// write, in order.
func TestDialedQueuedFramesGoOutInOneWrite(t *testing.T) {
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	got := make(chan [][]byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		var read [][]byte
		for range frames {
			_, b, err := c.Read(r.Context())
			if err != nil {
				t.Error(err)
				break
			}
			read = append(read, b)
		}
		got <- read
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, cork, _, err := DialCorked(ctx, wsURL(srv, "/"), &websocket.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	out := make(chan []byte, len(frames))
	for _, f := range frames[1:] {
		out <- f
	}
	before := cork.Writes()
	if err := WriteQueued(ctx, c, cork, frames[0], out, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := cork.Writes() - before; n != 1 {
		t.Errorf("%d frames took %d network writes, want 1", len(frames), n)
	}
	read := <-got
	if len(read) != len(frames) {
		t.Fatalf("the server read %d frames, want %d", len(read), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(read[i], frames[i]) {
			t.Fatalf("frame %d = %q, want %q", i, read[i], frames[i])
		}
	}
}

func dialWS(t *testing.T, ctx context.Context, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

// serveCorked runs handle on the server side of a corked WebSocket whose client never reads,
// and returns once handle has returned.
func serveCorked(t *testing.T, handle func(ctx context.Context, c *websocket.Conn, cork *CorkConn)) {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		c, cork, err := AcceptCorked(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.CloseNow()
		handle(r.Context(), c, cork)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dialWS(t, ctx, wsURL(srv, "/"), nil) // never reads
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the server side did not finish")
	}
}

// Frames written into a corked connection arm no write timer each (the WebSocket library does
// that, with allocations, for a write whose context can end): under fan-out that was a fifth of
// the gateway's CPU. The batch's one network write has the deadline.
func TestCorkedFramesArmNoTimerEach(t *testing.T) {
	serveCorked(t, func(ctx context.Context, c *websocket.Conn, cork *CorkConn) {
		frame := []byte(`{"type":"message","n":1}`)
		out := make(chan []byte, MaxBatchFrames)
		allocs := testing.AllocsPerRun(20, func() {
			for range MaxBatchFrames - 1 {
				out <- frame
			}
			if err := WriteQueued(ctx, c, cork, frame, out, 5*time.Second); err != nil {
				t.Error(err)
			}
		})
		if perFrame := allocs / MaxBatchFrames; perFrame >= 1 {
			t.Errorf("%.2f allocations per frame written into a corked connection, want < 1", perFrame)
		}
	})
}

// The batch's network write ends when the connection's context does, although its deadline is
// far off: a client that stopped reading does not hold the gateway's writer (and its stop).
func TestCorkedWriteEndsWithItsContext(t *testing.T) {
	serveCorked(t, func(ctx context.Context, c *websocket.Conn, cork *CorkConn) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		big := bytes.Repeat([]byte("x"), 1<<20)
		out := make(chan []byte, MaxBatchFrames)
		for range MaxBatchFrames - 1 {
			out <- big // 64 MiB: more than the socket buffers take while the client does not read
		}
		errc := make(chan error, 1)
		go func() { errc <- WriteQueued(ctx, c, cork, big, out, time.Hour) }()
		// Every frame taken: the batch goes to the network (or is about to).
		if !wait.Until(30*time.Second, func() bool { return len(out) == 0 }) {
			t.Error("the frames were not taken")
			return
		}
		cancel()
		select {
		case err := <-errc:
			if err == nil {
				t.Error("the write of a batch the client never read succeeded")
			}
		case <-time.After(30 * time.Second):
			t.Error("the batch's network write did not end with its context")
		}
	})
}

// A frame written with WriteNow while the write pump collects a batch (corked) is not put into the
// batch's memory: it waits for the batch to go out and then goes to the network itself, so that a
// durable feed that deletes the frame from its outbox once WriteNow returns never loses it to a
// batch whose network write fails.
func TestWriteNowDoesNotJoinABatch(t *testing.T) {
	serveCorked(t, func(ctx context.Context, c *websocket.Conn, cork *CorkConn) {
		cork.batch.Lock() // a batch is being collected, as in WriteQueued
		cork.Cork()
		inMemory := make(chan int, 1)
		go func() {
			if err := WriteNow(ctx, c, cork, []byte(`{"type":"message","durable":true}`)); err != nil {
				t.Error(err)
			}
			cork.mu.Lock()
			inMemory <- len(cork.buf)
			cork.mu.Unlock()
		}()
		// Without the batch lock, WriteNow returns at once with the frame in the batch's memory.
		wait.Until(5*time.Second, func() bool { return len(inMemory) > 0 })
		if err := cork.Uncork(ctx, 5*time.Second); err != nil {
			t.Error(err)
		}
		cork.batch.Unlock()
		if n := <-inMemory; n != 0 {
			t.Errorf("WriteNow returned with %d bytes in the batch's memory, not on the network", n)
		}
	})
}

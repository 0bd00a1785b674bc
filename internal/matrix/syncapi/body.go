package syncapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"maunium.net/go/mautrix"
)

// bodies are the buffers /sync answers are read into, one per answer being read: Decode copies
// what it keeps (every event is a json.RawMessage of its own), so the buffer serves the next
// answer. mautrix reads a body with io.ReadAll, whose buffer grows step by step each time: 7.6 %
// of the bytes the gateway allocated under the stand-in's replay.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffer kept for the next answer: a first sync of many rooms may be
// tens of MiB, and its buffer is not kept. It also bounds what an announced length reserves
// before the bytes arrive (beyond it the buffer grows as they do, as io.ReadAll's would).
const maxPooledBody = 4 << 20

// body is where one /sync answer is read: a buffer of bodies, taken only once the answer has
// come, not for the long poll's wait (a thousand idle bots would each hold one for 30 s).
type body struct{ buf *bytes.Buffer }

// release gives the buffer back to bodies (once what was read is decoded).
func (b *body) release() {
	if b.buf != nil && b.buf.Cap() <= maxPooledBody {
		b.buf.Reset()
		bodies.Put(b.buf)
	}
	b.buf = nil
}

// read is a mautrix.ClientResponseHandler that reads a successful answer into b's buffer, within
// limit as mautrix's own reader does (same errors), and returns the buffer's bytes.
func (b *body) read(req *http.Request, res *http.Response, _ any, limit int64) ([]byte, error) {
	if res.ContentLength > limit {
		return nil, mautrix.HTTPError{Request: req, Response: res, Message: "not reading response",
			WrappedError: fmt.Errorf("%w (%.2f MiB)", mautrix.ErrResponseTooLong, float64(res.ContentLength)/1024/1024)}
	}
	if b.buf == nil {
		b.buf = bodies.Get().(*bytes.Buffer)
	}
	buf := b.buf
	buf.Reset()
	if res.ContentLength > 0 { // ReadFrom wants MinRead free at the end
		buf.Grow(int(min(res.ContentLength, maxPooledBody)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(io.LimitReader(res.Body, limit+1))
	if err == nil && int64(buf.Len()) > limit {
		err = mautrix.ErrBodyReadReachedLimit
	}
	if err != nil {
		return nil, mautrix.HTTPError{Request: req, Response: res, Message: "failed to read response body", WrappedError: err}
	}
	return buf.Bytes(), nil
}

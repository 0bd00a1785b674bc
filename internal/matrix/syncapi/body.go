package syncapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"maunium.net/go/mautrix"
)

// bodies are the buffers /sync answers are read into, one per request under way: Decode copies
// what it keeps (every event is a json.RawMessage of its own), so the buffer serves the next
// answer. mautrix reads a body with io.ReadAll, whose buffer grows step by step each time: 7.6 %
// of the bytes the gateway allocated under the stand-in's replay.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffer kept for the next answer: a first sync of many rooms may be
// tens of MiB, and its buffer is not kept.
const maxPooledBody = 4 << 20

func putBody(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		b.Reset()
		bodies.Put(b)
	}
}

// readInto is a mautrix.ClientResponseHandler that reads a successful answer into buf, within
// limit as mautrix's own reader does (same errors), and returns buf's bytes.
func readInto(buf *bytes.Buffer) mautrix.ClientResponseHandler {
	return func(req *http.Request, res *http.Response, _ any, limit int64) ([]byte, error) {
		if res.ContentLength > limit {
			return nil, mautrix.HTTPError{Request: req, Response: res, Message: "not reading response",
				WrappedError: fmt.Errorf("%w (%.2f MiB)", mautrix.ErrResponseTooLong, float64(res.ContentLength)/1024/1024)}
		}
		buf.Reset()
		if res.ContentLength > 0 {
			buf.Grow(int(res.ContentLength) + bytes.MinRead) // ReadFrom wants MinRead free at the end
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
}

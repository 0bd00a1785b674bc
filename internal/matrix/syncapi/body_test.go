package syncapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
)

func answer(body string, length int64) *http.Response {
	return &http.Response{StatusCode: 200, ContentLength: length, Body: io.NopCloser(strings.NewReader(body))}
}

// syncBody is a /sync answer with n messages whose bodies start with tag.
func syncBody(tag string, n int) string {
	var evts []string
	for i := range n {
		evts = append(evts, fmt.Sprintf(`{"type":"m.room.message","event_id":"$%s%d","sender":"@u:x","content":{"msgtype":"m.text","body":"%s %d"}}`, tag, i, tag, i))
	}
	return `{"next_batch":"` + tag + `","rooms":{"join":{"!r:x":{"timeline":{"events":[` + strings.Join(evts, ",") + `]}}}}}`
}

// The next answer is read into the buffer of the one before (no new memory once it is large
// enough), and what Decode made of the one before does not change: it keeps copies, not the
// buffer's bytes.
func TestDecodedAnswerOutlivesItsBuffer(t *testing.T) {
	var buf bytes.Buffer
	read := readInto(&buf)
	a := syncBody("a", 200)
	got, err := read(nil, answer(a, -1), nil, 1<<20)
	if err != nil || string(got) != a {
		t.Fatalf("first answer: %v, %d bytes", err, len(got))
	}
	first, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	mem := &buf.Bytes()[:1][0]
	b := syncBody("b", 200)
	got, err = read(nil, answer(b, int64(len(b))), nil, 1<<20)
	if err != nil || string(got) != b {
		t.Fatalf("second answer: %v, %d bytes", err, len(got))
	}
	if &got[0] != mem {
		t.Error("the second answer was read into new memory, not the buffer of the first")
	}
	evts := first.Rooms.Join["!r:x"].Timeline.Events
	if first.NextBatch != "a" || len(evts) != 200 || !strings.Contains(string(evts[199]), `"body":"a 199"`) {
		t.Fatalf("the first answer changed when the buffer was read into again: next_batch %q, %d events, last %s", first.NextBatch, len(evts), evts[len(evts)-1])
	}
}

// The size limit is mautrix's: an announced length over it is not read, and a body that turns out
// longer fails.
func TestReadIntoKeepsTheSizeLimit(t *testing.T) {
	var buf bytes.Buffer
	read := readInto(&buf)
	if _, err := read(nil, answer("{}", 2000), nil, 1000); !errors.Is(err, mautrix.ErrResponseTooLong) {
		t.Errorf("announced length over the limit: %v, want ErrResponseTooLong", err)
	}
	long := strings.Repeat("x", 1001)
	if _, err := read(nil, answer(long, -1), nil, 1000); !errors.Is(err, mautrix.ErrBodyReadReachedLimit) {
		t.Errorf("body over the limit: %v, want ErrBodyReadReachedLimit", err)
	}
	if got, err := read(nil, answer(long[:1000], 1000), nil, 1000); err != nil || len(got) != 1000 {
		t.Errorf("body at the limit: %v, %d bytes", err, len(got))
	}
}

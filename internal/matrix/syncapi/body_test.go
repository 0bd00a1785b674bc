package syncapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
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
	var b body
	read := b.read
	a := syncBody("a", 200)
	got, err := read(nil, answer(a, -1), nil, 1<<20)
	if err != nil || string(got) != a {
		t.Fatalf("first answer: %v, %d bytes", err, len(got))
	}
	first, err := Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	mem := &b.buf.Bytes()[:1][0]
	second := syncBody("b", 200)
	got, err = read(nil, answer(second, int64(len(second))), nil, 1<<20)
	if err != nil || string(got) != second {
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
	var b body
	read := b.read
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

// A /sync long poll takes no buffer of bodies while it waits: only an answer that has come is
// read into one. Taken before the request, every idle bot would hold one (as large as the last
// answer it served, up to maxPooledBody) for the whole long poll.
func TestLongPollHoldsNoBuffer(t *testing.T) {
	var taken atomic.Int32
	bodies.New = func() any { taken.Add(1); return new(bytes.Buffer) }
	defer func() { bodies.New = func() any { return new(bytes.Buffer) } }()
	for taken.Load() == 0 { // empty the pool: New runs only when it is
		bodies.Get()
	}
	taken.Store(0)
	const polls = 3
	arrived, release := make(chan struct{}, polls), make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, syncBody("n", 3))
	}))
	defer hs.Close()
	acct, err := account.New(account.Options{Bot: config.Bot{Homeserver: hs.URL, UserID: "@bot:example.org", AccessToken: "tok"},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := New(acct)
	results := make(chan error, polls)
	for range polls {
		go func() {
			resp, err := s.Sync(context.Background(), "", "", time.Minute)
			if err == nil && resp.NextBatch != "n" {
				err = fmt.Errorf("next_batch %q, want n", resp.NextBatch)
			}
			results <- err
		}()
	}
	for range polls {
		<-arrived
	}
	n := taken.Load()
	close(release)
	if n != 0 {
		t.Errorf("%d buffers taken while %d long polls waited for their answers; want none", n, polls)
	}
	for range polls {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	if taken.Load() == 0 {
		t.Fatal("no answer was read into a buffer of bodies")
	}
}

// An announced length reserves at most maxPooledBody before the bytes arrive: an answer that
// announces hundreds of MiB (within mautrix's 512 MiB limit) and sends little does not take the
// memory it announced.
func TestAnnouncedLengthReservesABoundedBuffer(t *testing.T) {
	var b body
	if _, err := b.read(nil, answer("{}", 200<<20), nil, 512<<20); err != nil {
		t.Fatal(err)
	}
	if c := b.buf.Cap(); c > 2*maxPooledBody {
		t.Fatalf("a 2-byte answer announcing 200 MiB took a buffer of %d bytes", c)
	}
}

package v11

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// fakeMapper is an in-memory Mapper numbering each kind from 1, as the gateway's table does.
type fakeMapper struct {
	mu     sync.Mutex
	toNum  map[Kind]map[string]int64
	toID   map[Kind]map[int64]string
	calls  int
	failOn string // V11ID of this ID fails
}

func newFakeMapper() *fakeMapper {
	m := &fakeMapper{toNum: map[Kind]map[string]int64{}, toID: map[Kind]map[int64]string{}}
	for _, k := range []Kind{KindUser, KindRoom, KindEvent} {
		m.toNum[k], m.toID[k] = map[string]int64{}, map[int64]string{}
	}
	return m
}

func (m *fakeMapper) V11ID(_ context.Context, k Kind, s string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if s == m.failOn {
		return 0, errors.New("database is locked")
	}
	if n, ok := m.toNum[k][s]; ok {
		return n, nil
	}
	n := int64(len(m.toNum[k]) + 1)
	m.toNum[k][s], m.toID[k][n] = n, s
	return n, nil
}

func (m *fakeMapper) MatrixID(_ context.Context, k Kind, n int64) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.toID[k][n]; ok {
		return s, nil
	}
	return "", ErrNotFound
}

// seeded fixes the numbers so that the golden files do not depend on map order (as the
// gateway's tests seed its database).
func seeded(t *testing.T) *fakeMapper {
	m := newFakeMapper()
	for _, x := range []ref{
		{KindUser, "@bot:example.org"}, {KindUser, "@alice:example.org"}, {KindUser, "@bob:example.org"},
		{KindRoom, "!room:example.org"}, {KindEvent, "$ev0:example.org"}, {KindEvent, "$ev1:example.org"},
	} {
		if _, err := m.V11ID(context.Background(), x.kind, x.id); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func encode(t *testing.T, m Mapper, ev *model.Event) []byte {
	t.Helper()
	f := New(Options{IDs: m, SelfID: func(u id.UserID) int64 { return 10001 }})
	ids, err := f.Resolve(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Encode(ev, ids)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodeV11Events(t *testing.T) {
	m := seeded(t)
	for _, tc := range []struct {
		name   string
		direct bool
	}{{"v11_message_group.json", false}, {"v11_message_private.json", true}} {
		vectors.Golden(t, tc.name, encode(t, m, vectors.SampleMessage(tc.direct)))
	}
}

func TestEncodeV11Notices(t *testing.T) {
	for name, ev := range vectors.NoticeSamples() {
		vectors.Golden(t, "v11_notice_"+name+".json", encode(t, seeded(t), ev))
	}
}

// The encoder does no lookups: every number comes from Resolve, and without them it fails
// instead of reaching for the database (issue 11 item 2).
func TestEncodeIsPure(t *testing.T) {
	self := func(id.UserID) int64 { return 10001 }
	if _, err := New(Options{IDs: seeded(t), SelfID: self}).Encode(vectors.SampleMessage(false), nil); err == nil ||
		!strings.Contains(err.Error(), "not resolved") {
		t.Fatalf("encode without Resolve: %v, want an unresolved-number error", err)
	}
	samples := vectors.NoticeSamples()
	samples["message"] = vectors.SampleMessage(false)
	for name, ev := range samples {
		m := seeded(t)
		f := New(Options{IDs: m, SelfID: self})
		ids, err := f.Resolve(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		resolved := m.calls
		if _, err := f.Encode(ev, ids); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.calls != resolved {
			t.Fatalf("%s: the encoder made %d lookups, want none", name, m.calls-resolved)
		}
	}
}

// A failing lookup is Resolve's error (the hub holds the event and publishes it again).
func TestResolveErrorIsReturned(t *testing.T) {
	m := seeded(t)
	m.failOn = "@carol:example.org"
	ev := vectors.SampleMessage(false)
	ev.Message.Sender = "@carol:example.org"
	if _, err := New(Options{IDs: m}).Resolve(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("Resolve: %v, want the lookup's error", err)
	}
}

package push

import (
	"context"

	"github.com/matrix-onebot/gateway/internal/face"
)

// Subscribe streams one bot's events (or every bot's) encoded by f, for a face that mounts a
// stream of its own (face.Host): a feed, as the hub's own pushing endpoints have (outbox.go), so
// a durable stream keeps its frames in the outbox until they are delivered.
func (p *Pushers) Subscribe(ctx context.Context, f face.Face, sub face.Subscription) face.Stream {
	transport := sub.Transport
	if transport == "" {
		transport = f.Name()
	}
	key := sub.Key
	if key != "" {
		key = f.Name() + ":" + key
	}
	st := &faceStream{f: p.newFaceFeed(ctx, key, 0, f, sub.Bot, key != "", sub.Retain, transport)}
	if st.f.retain {
		return &retainedStream{st}
	}
	return st
}

// retainedStream is a faceStream whose frames stay in the outbox (face.History).
type retainedStream struct{ *faceStream }

var _ face.History = (*retainedStream)(nil)

func (s *retainedStream) After(ctx context.Context, seq int64, limit int) ([]face.Frame, error) {
	rows, err := s.f.store.OutboxAfter(ctx, s.f.key, seq, limit)
	if err != nil {
		return nil, err
	}
	out := make([]face.Frame, len(rows))
	for i, e := range rows {
		out[i] = face.Frame{Seq: e.Seq, QueuedAt: e.QueuedAt, Payload: e.Payload}
	}
	return out, nil
}

// Position is read by the goroutine that calls Next (face.History).
func (s *retainedStream) Position() int64 { return s.f.pos }

// faceStream is a feed seen as a face.Stream.
type faceStream struct {
	f    *Feed
	last pending
}

func (s *faceStream) Next(ctx context.Context) (face.Frame, error) {
	p, err := s.f.next(ctx)
	if err != nil {
		return face.Frame{}, err
	}
	s.last = p
	return face.Frame{Seq: p.seq, QueuedAt: p.queuedAt, Payload: p.payload, Replayed: p.replay}, nil
}

func (s *faceStream) Done(ctx context.Context, fr face.Frame) {
	p := s.last
	if p.seq != fr.Seq {
		p = pending{seq: fr.Seq, queuedAt: fr.QueuedAt, payload: fr.Payload, replay: fr.Replayed}
	}
	s.f.done(ctx, p)
}

func (s *faceStream) Fail()  { s.f.fail() }
func (s *faceStream) Close() { s.f.Close() }

//go:build unix

package matrix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/syncapi"
	"github.com/matrix-onebot/gateway/internal/model"
	v12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// encodingSink encodes every event as OneBot v12 JSON (what the hub does once per face) and
// keeps a count, so that the benchmark pays for the encoding a client would get.
type encodingSink struct {
	events, bytes int
}

func (s *encodingSink) Publish(_ context.Context, ev *model.Event) error {
	frame, err := v12.EncodeEvent(ev)
	if err != nil {
		return err
	}
	s.events++
	s.bytes += len(frame)
	return nil
}

func (*encodingSink) BotStatusChanged(id.UserID, model.BotStatus) {}

const (
	ingestPerBatch = 100 // messages per /sync response, as the stand-in homeserver of issue 12 served
	ingestMembers  = 20
)

// ingestBody is the /sync response number n: ingestPerBatch text messages in roomA from the
// room's members, some of them replies to an earlier message of the same batch.
func ingestBody(tb testing.TB, n int, now time.Time) []byte {
	evts := make([]any, ingestPerBatch)
	for i := range evts {
		sender := id.UserID(fmt.Sprintf("@user%d:example.org", i%ingestMembers))
		m := message(fmt.Sprintf("$b%d_%d", n, i), sender, now, fmt.Sprintf("message %d of batch %d, with a little text", i, n))
		if i%10 == 9 {
			m["content"].(map[string]any)["m.relates_to"] = map[string]any{
				"m.in_reply_to": map[string]any{"event_id": fmt.Sprintf("$b%d_%d", n, i-1)},
			}
		}
		evts[i] = m
	}
	body, err := json.Marshal(map[string]any{
		"next_batch": fmt.Sprintf("s%d", n+1),
		"rooms":      map[string]any{"join": map[id.RoomID]any{roomA: timeline(evts...)}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// BenchmarkIngest feeds recorded /sync responses through a bot's sync loop without the network
// (decode, state, message index, conversion with member names and roles from the state store,
// the batch record and the sync position) into a sink that encodes each event as OneBot v12. It
// reports the CPU cost per incoming message (issue 12's target: ≤ 50 µs) and allocations.
func BenchmarkIngest(b *testing.B) {
	h := newHarness(b)
	state := newStateStore(b, h)
	ctx := context.Background()
	sink := &encodingSink{}
	s := h.session(b, sink, func(o *Options) {
		o.HandleOldEvents, o.StateStore = true, state
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	now := time.Now()
	// The room's state: its creator, power levels and members with display names.
	stateEvts := []any{
		stateEvent("$create", "m.room.create", "", aliceID, now, map[string]any{"room_version": "10", "creator": aliceID}),
		stateEvent("$pl", "m.room.power_levels", "", aliceID, now, map[string]any{"users": map[id.UserID]int{aliceID: 100, "@user1:example.org": 50}}),
	}
	for i := range ingestMembers {
		u := fmt.Sprintf("@user%d:example.org", i)
		stateEvts = append(stateEvts, stateEvent("$m"+u, "m.room.member", u, id.UserID(u), now, map[string]any{"membership": "join", "displayname": fmt.Sprintf("User %d", i)}))
	}
	first, err := json.Marshal(map[string]any{
		"next_batch": "s0",
		"rooms":      map[string]any{"join": map[id.RoomID]any{roomA: map[string]any{"state": map[string]any{"events": stateEvts}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ingest := func(since string, body []byte) {
		resp, err := syncapi.Decode(body)
		if err != nil {
			b.Fatal(err)
		}
		if !s.sync.handOver(ctx, &batch{wait: ctx, since: since}, resp) {
			b.Fatal("handOver stopped")
		}
	}
	ingest("", first)

	batches := (b.N + ingestPerBatch - 1) / ingestPerBatch
	bodies := make([][]byte, batches)
	for n := range bodies {
		bodies[n] = ingestBody(b, n, now)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU(b)
	b.ResetTimer()
	for n, body := range bodies {
		ingest(fmt.Sprintf("s%d", n), body)
	}
	b.StopTimer()
	cpu := processCPU(b) - cpuBefore
	runtime.ReadMemStats(&after)
	msgs := batches * ingestPerBatch
	if sink.events != msgs {
		b.Fatalf("%d events handed over, want %d", sink.events, msgs)
	}
	elapsed := b.Elapsed()
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(msgs), "ns/msg")
	b.ReportMetric(float64(msgs)/elapsed.Seconds(), "msg/s")
	// CPU time (user + system, all threads) does not count waiting for a core that other
	// processes hold: on a busy machine it is the steadier number.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(msgs), "cpu-ns/msg")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(msgs), "allocs/msg")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(msgs), "B/msg")
}

// processCPU is the CPU time (user and system) the process has used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

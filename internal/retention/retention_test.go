package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/wait"
)

const waitLimit = 10 * time.Second // a deadline for conditions, not a duration the tests take

func TestInterval(t *testing.T) {
	for _, c := range []struct {
		r    storage.Retention
		want time.Duration
	}{
		{storage.Retention{}, MaxInterval},
		{storage.Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: 24 * time.Hour, FileAge: 24 * time.Hour}, MaxInterval},
		{storage.Retention{MessageAge: 7 * 24 * time.Hour, EncryptedBodyAge: 4 * time.Minute}, 2 * time.Minute},
		{storage.Retention{FileAge: 10 * time.Second}, 5 * time.Second},
		{storage.Retention{MessageAge: time.Second}, time.Second},
		// Without decrypted bodies, outbox frames of encrypted rooms are deleted at delivery:
		// a pass empties the WAL of them within a minute.
		{storage.Retention{MessageAge: 7 * 24 * time.Hour, NoEncryptedBodies: true}, NoBodiesInterval},
	} {
		if got := Interval(c.r); got != c.want {
			t.Errorf("Interval(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}

// Run prunes at once and then on its schedule: once the clock passes the retention, the next
// pass deletes the message and the file record and empties the WAL, without anyone calling it.
func TestPrunerRunsOnSchedule(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	var now atomic.Int64
	t0 := time.Now()
	now.Store(t0.UnixMilli())
	clock := func() time.Time { return time.UnixMilli(now.Load()) }
	db.SetClock(clock)
	db.SetRetention(storage.Retention{MessageAge: time.Hour, MessageCount: 1000, EncryptedBodyAge: 30 * time.Minute, FileAge: time.Hour})
	files, err := media.New(ctx, media.Options{DB: db, Dir: filepath.Join(dir, "files")})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Messages().PutMessage(ctx, storage.Message{
		BotUserID: "@bot:x", RoomID: "!r:x", EventID: "$m", Sender: "@a:x", Time: t0,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"scheduled"}`), Encrypted: true,
	}); err != nil {
		t.Fatal(err)
	}
	up, err := files.Put(ctx, "a.txt", "text/plain", bytes.NewReader([]byte("file")))
	if err != nil {
		t.Fatal(err)
	}

	passes := make(chan Result, 100)
	p := &Pruner{DB: db, Files: files, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Interval: 5 * time.Millisecond, Now: clock,
		OnPass: func(r Result, err error) {
			if err != nil {
				t.Errorf("pass failed: %v", err)
			}
			select {
			case passes <- r:
			default: // the test stopped reading
			}
		}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context ended")
		}
	}()
	timeout := time.After(waitLimit)
	next := func() Result {
		t.Helper()
		select {
		case r := <-passes:
			return r
		case <-timeout:
			t.Fatal("no pass of the pruner before the deadline")
		}
		return Result{}
	}
	if r := next(); r.removed() {
		t.Fatalf("the first pass, within the retention, removed %+v", r)
	}
	now.Store(t0.Add(2 * time.Hour).UnixMilli())
	var got Result
	for got.Messages.Aged == 0 {
		got = next()
	}
	if got.Files.Records != 1 || got.Files.Files != 1 || !got.Checkpointed {
		t.Errorf("pass = %+v; want the file record and its file removed and a checkpoint", got)
	}
	if _, err := db.Messages().GetMessage(ctx, "@bot:x", "$m"); !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
		t.Errorf("message after the pass: %v, want deleted", err)
	}
	if _, err := db.Files().GetFileRecord(ctx, up.ID); !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
		t.Errorf("file record after the pass: %v, want deleted", err)
	}
}

// A checkpoint that a reader keeps from finishing is tried again at the next pass, even when
// that pass prunes nothing, so pruned rows do not stay in the WAL.
func TestPrunerRetriesCheckpoint(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	db.SetRetention(storage.Retention{MessageAge: time.Hour})
	t0 := time.Now()
	if err := db.Messages().PutMessage(ctx, storage.Message{BotUserID: "@bot:x", RoomID: "!r:x", EventID: "$m", Content: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// A reader holds a snapshot of the WAL.
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM gateway_message").Scan(&n); err != nil {
		t.Fatal(err)
	}
	clock := t0.Add(2 * time.Hour)
	p := &Pruner{DB: db, Log: slog.New(slog.NewTextHandler(t.Output(), nil)), Now: func() time.Time { return clock }}
	res, err := p.Pass(ctx)
	if err != nil || res.Messages.Aged != 1 || res.Checkpointed {
		t.Fatalf("pass with a reader = %+v, %v; want 1 pruned, checkpoint not finished", res, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	res, err = p.Pass(ctx)
	if err != nil || res.Messages.Total() != 0 || !res.Checkpointed {
		t.Errorf("next pass = %+v, %v; want the checkpoint done", res, err)
	}
}

type failingFiles struct{}

func (failingFiles) Prune(context.Context, time.Time) (media.FilePrune, error) {
	return media.FilePrune{}, errors.New("files dir unreadable")
}

// A failing pass is counted in retention_passes_total{result="failed"}, so an operator sees a
// pruner that keeps failing (expired data staying on disk) without reading the log.
func TestPrunerCountsFailedPasses(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := storage.Open(ctx, filepath.Join(dir, "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	mets := metrics.New()
	var passes atomic.Int64
	p := &Pruner{DB: db, Files: failingFiles{}, Log: slog.New(slog.NewTextHandler(t.Output(), nil)),
		Interval: time.Hour, Metrics: mets, OnPass: func(Result, error) { passes.Add(1) }}
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	wait.For(t, waitLimit, "the first pass", func() bool { return passes.Load() == 1 })
	cancel()
	<-done
	rec := httptest.NewRecorder()
	mets.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if want := `onebot_gateway_retention_passes_total{result="failed"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
	}
}

package storage

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/wait"
)

// The lock key of a bot is the same in every build: gateways of different versions sharing a
// database must agree on it. The vector is the SHA-256 of the prefixed user ID, first 8 bytes,
// big-endian (python3: hashlib.sha256(b"matrix-onebot-gateway bot lock\x00@bot:example.org")).
func TestBotLockKeyIsStable(t *testing.T) {
	if got, want := BotLockKey("@bot:example.org"), int64(-0x5fe80a3afec2d414); got != want {
		t.Errorf("BotLockKey(@bot:example.org) = %#x, want %#x", got, want)
	}
	if BotLockKey("@bot:example.org") == BotLockKey("@bot2:example.org") {
		t.Error("two bots share a lock key")
	}
}

// Two gateways' ownerships exclude each other per bot; a released bot can be taken by the other.
func TestOwnershipExcludes(t *testing.T) {
	ctx := t.Context()
	db := openTest(t)
	a, b := newOwnership(t, db), newOwnership(t, db)
	if ok, err := a.Acquire(ctx, "@one:x"); err != nil || !ok {
		t.Fatalf("a.Acquire(one) = %v, %v", ok, err)
	}
	if ok, err := a.Acquire(ctx, "@one:x"); err != nil || !ok {
		t.Errorf("a.Acquire(one) again = %v, %v; want true (it holds it)", ok, err)
	}
	if ok, err := b.Acquire(ctx, "@one:x"); err != nil || ok {
		t.Errorf("b.Acquire(one) = %v, %v; want false (a holds it)", ok, err)
	}
	if ok, err := b.Acquire(ctx, "@two:x"); err != nil || !ok {
		t.Errorf("b.Acquire(two) = %v, %v", ok, err)
	}
	if held := a.Held(); len(held) != 1 || held[0] != "@one:x" {
		t.Errorf("a holds %v", held)
	}
	if err := a.Release(ctx, "@one:x"); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Acquire(ctx, "@one:x"); err != nil || !ok {
		t.Errorf("b.Acquire(one) after a released it = %v, %v", ok, err)
	}
	if ok, err := a.Acquire(ctx, "@one:x"); err != nil || ok {
		t.Errorf("a.Acquire(one) = %v, %v; want false (b holds it now)", ok, err)
	}
	// Closing an ownership gives up all of its locks.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "a to take the bots of the closed ownership", func() bool {
		one, err1 := a.Acquire(ctx, "@one:x")
		two, err2 := a.Acquire(ctx, "@two:x")
		return one && two && err1 == nil && err2 == nil
	})
	select {
	case <-a.Lost():
		t.Error("a reports its locks lost")
	default:
	}
}

// When the server ends the connection of an ownership (pg_terminate_backend, as when the gateway
// is cut off or dies), the ownership reports its locks lost and another one takes the bot.
func TestOwnershipLostWhenTheConnectionEnds(t *testing.T) {
	if testPostgres == nil {
		t.Skip("PostgreSQL only: a SQLite ownership has no connection to lose")
	}
	ctx := t.Context()
	db := openTest(t)
	a, b := newOwnership(t, db), newOwnership(t, db)
	if ok, err := a.Acquire(ctx, "@bot:x"); err != nil || !ok {
		t.Fatalf("a.Acquire = %v, %v", ok, err)
	}
	if ok, err := b.Acquire(ctx, "@bot:x"); err != nil || ok {
		t.Fatalf("b.Acquire = %v, %v; want false", ok, err)
	}
	var ended bool
	if err := testPostgres.Admin().QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, a.BackendPID()).Scan(&ended); err != nil || !ended {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", a.BackendPID(), ended, err)
	}
	select {
	case <-a.Lost():
	case <-time.After(30 * time.Second):
		t.Fatal("a did not report its locks lost")
	}
	if err := a.Err(); !errors.Is(err, ErrOwnershipLost) {
		t.Errorf("a.Err() = %v, want ErrOwnershipLost", err)
	}
	if held := a.Held(); len(held) != 0 {
		t.Errorf("a still claims %v", held)
	}
	if _, err := a.Acquire(ctx, "@bot:x"); !errors.Is(err, ErrOwnershipLost) {
		t.Errorf("a.Acquire after the loss: %v, want ErrOwnershipLost", err)
	}
	wait.For(t, 10*time.Second, "b to take the bot", func() bool {
		ok, err := b.Acquire(ctx, "@bot:x")
		return ok && err == nil
	})
	if err := a.Close(); err != nil {
		t.Errorf("closing the ownership that lost its connection: %v", err)
	}
}

// newOwnership opens an ownership that checks its connection often, closed with the test.
func newOwnership(t *testing.T, db *DB) *Ownership {
	t.Helper()
	o, err := NewOwnership(t.Context(), db, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// While an Acquire waits for a slow database, the ownership still answers what it holds and
// whether it lost its connection: its lock is held around its own state, not around the round
// trips to the server (it was, so a slow database stalled every caller of Held and Err).
func TestOwnershipAnswersWhileTheDatabaseIsSlow(t *testing.T) {
	if testPostgres == nil {
		t.Skip("PostgreSQL only: a SQLite ownership makes no round trip")
	}
	ctx := t.Context()
	u, err := url.Parse(testPostgres.DatabaseForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	relay := fakes.NewFakeStallingRelay(t, u.Host)
	u.Host = relay.Addr
	db := openAt(t, u.String())
	o, err := NewOwnership(ctx, db, time.Hour) // no checks of its own during the test
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = o.Close() }()
	if ok, err := o.Acquire(ctx, "@one:x"); err != nil || !ok {
		t.Fatalf("Acquire(one) = %v, %v", ok, err)
	}
	stalled := relay.Stall()
	acquired := make(chan error, 1)
	go func() {
		ok, err := o.Acquire(ctx, "@two:x")
		if err == nil && !ok {
			err = errors.New("not taken")
		}
		acquired <- err
	}()
	select {
	case <-stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("Acquire(two) sent nothing to the database")
	}
	answered := make(chan []string, 1)
	go func() {
		_ = o.Err()
		answered <- o.Held()
	}()
	select {
	case held := <-answered:
		if len(held) != 1 || held[0] != "@one:x" {
			t.Errorf("while Acquire(two) waits, Held = %v; want [@one:x]", held)
		}
	case <-time.After(10 * time.Second):
		relay.Resume()
		t.Fatal("Held and Err waited for the database's answer to another call's statement")
	}
	relay.Resume()
	if err := <-acquired; err != nil {
		t.Fatalf("Acquire(two) once the database answered: %v", err)
	}
	if held := o.Held(); len(held) != 2 {
		t.Errorf("Held = %v; want both bots", held)
	}
}

package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Ownership of bots among several gateways that share one PostgreSQL database: a bot is run by
// the gateway whose Ownership holds the bot's lock. The locks are PostgreSQL session-level
// advisory locks (pg_try_advisory_lock), all of one gateway's on one dedicated connection: when
// that connection ends (the gateway died, was cut off, or the server ended it), the server
// releases every lock it held, and other gateways can take the bots over. The gateway whose
// connection ended learns it from Lost and must stop those bots.
//
// On SQLite (one gateway per file) the locks are kept in memory: an Ownership never loses them,
// and two Ownerships of the same DB exclude each other as on PostgreSQL.

// ErrOwnershipLost is returned (wrapped) by the methods of an Ownership whose connection ended:
// it holds no lock any more; open a new one.
var ErrOwnershipLost = errors.New("the ownership connection to the database ended")

// DefaultOwnershipCheck is how often an Ownership checks its connection when none is given.
const DefaultOwnershipCheck = 2 * time.Second

// ownershipCheckTimeout bounds one check: a server that does not answer within it counts as a
// lost connection (it may already have released the locks).
const ownershipCheckTimeout = 5 * time.Second

// Ownership is one gateway's set of bot locks. It is safe for concurrent use.
type Ownership struct {
	db       *DB
	conn     *sql.Conn // PostgreSQL only
	pid      int
	interval time.Duration

	// stmt orders the statements of Acquire, Release and Close on the connection; mu guards the
	// state below and is never held across a round trip to the server, so that Held, Err and the
	// report of a lost connection do not wait for a slow database.
	stmt    sync.Mutex
	mu      sync.Mutex
	held    map[string]int64 // bot user ID → lock key
	lostErr error

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// memoryLocks are the SQLite locks: bot user ID → the Ownership holding it.
type memoryLocks struct {
	mu   sync.Mutex
	held map[string]*Ownership
}

// BotLockKey is the advisory lock key of a bot: the first 8 bytes of the SHA-256 of its user ID
// (with a prefix of the gateway's own), read as a big-endian signed number. It is the same in
// every build and on every machine.
func BotLockKey(botUserID string) int64 {
	sum := sha256.Sum256([]byte("matrix-onebot-gateway bot lock\x00" + botUserID))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

// NewOwnership opens a dedicated connection for bot locks (on PostgreSQL) and checks it every
// interval (DefaultOwnershipCheck if 0). Close it to release every lock.
func NewOwnership(ctx context.Context, db *DB, interval time.Duration) (*Ownership, error) {
	if interval <= 0 {
		interval = DefaultOwnershipCheck
	}
	o := &Ownership{db: db, interval: interval, held: map[string]int64{},
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	if !isPostgres(db) {
		close(o.done)
		return o, nil
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to open the ownership connection: %w", err)
	}
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&o.pid); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("failed to open the ownership connection: %w", err)
	}
	o.conn = conn
	go o.watch()
	return o, nil
}

// BackendPID is the PostgreSQL process of the ownership connection (0 on SQLite): what
// pg_terminate_backend ends, and what pg_locks shows as the holder.
func (o *Ownership) BackendPID() int { return o.pid }

// Lost is closed when the connection ended and every lock is gone (never on SQLite, nor after
// Close).
func (o *Ownership) Lost() <-chan struct{} { return o.lost }

// Err returns why the locks were lost, or nil.
func (o *Ownership) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lostErr
}

// Acquire takes the lock of the bot if no other Ownership holds it, and reports whether this
// one holds it now (true again for a lock it already holds). It does not wait.
func (o *Ownership) Acquire(ctx context.Context, botUserID string) (bool, error) {
	if botUserID == "" {
		return false, errors.New("failed to lock a bot: its user ID is empty")
	}
	o.stmt.Lock()
	defer o.stmt.Unlock()
	o.mu.Lock()
	lost := o.lostErr
	_, have := o.held[botUserID]
	if lost == nil && !have && o.conn == nil {
		defer o.mu.Unlock()
		return o.acquireInMemory(botUserID, BotLockKey(botUserID)), nil
	}
	o.mu.Unlock()
	if lost != nil {
		return false, fmt.Errorf("failed to lock %s: %w", botUserID, lost)
	}
	if have {
		return true, nil
	}
	key := BotLockKey(botUserID)
	var ok bool
	if err := o.conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		o.mu.Lock()
		err = o.failed(fmt.Errorf("failed to lock %s: %w", botUserID, err))
		lost := o.lostErr
		o.mu.Unlock()
		if lost == nil {
			// Cut short (ctx ended): the server may have taken the lock all the same. Give it up,
			// or the bot would be locked by a gateway that does not run it.
			unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ownershipCheckTimeout)
			_, uerr := o.conn.ExecContext(unlockCtx, `SELECT pg_advisory_unlock($1)`, key)
			cancel()
			if uerr != nil {
				o.mu.Lock()
				_ = o.failed(fmt.Errorf("failed to unlock %s after a failed lock: %w", botUserID, uerr))
				o.mu.Unlock()
			}
		}
		return false, err
	}
	if !ok {
		return false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lostErr != nil { // the connection ended meanwhile, and the lock with it
		return false, fmt.Errorf("failed to lock %s: %w", botUserID, o.lostErr)
	}
	o.held[botUserID] = key
	return true, nil
}

func (o *Ownership) acquireInMemory(botUserID string, key int64) bool {
	locks := &o.db.memoryLocks
	locks.mu.Lock()
	defer locks.mu.Unlock()
	if holder, ok := locks.held[botUserID]; ok && holder != o {
		return false
	}
	if locks.held == nil {
		locks.held = map[string]*Ownership{}
	}
	locks.held[botUserID] = o
	o.held[botUserID] = key
	return true
}

// Release gives the bot's lock up (nothing happens for a lock it does not hold).
func (o *Ownership) Release(ctx context.Context, botUserID string) error {
	o.stmt.Lock()
	defer o.stmt.Unlock()
	o.mu.Lock()
	key, ok := o.held[botUserID]
	if !ok {
		o.mu.Unlock()
		return nil
	}
	delete(o.held, botUserID)
	if o.conn == nil {
		o.releaseInMemory(botUserID)
		o.mu.Unlock()
		return nil
	}
	o.mu.Unlock()
	if _, err := o.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.failed(fmt.Errorf("failed to unlock %s: %w", botUserID, err))
	}
	return nil
}

func (o *Ownership) releaseInMemory(botUserID string) {
	locks := &o.db.memoryLocks
	locks.mu.Lock()
	defer locks.mu.Unlock()
	if locks.held[botUserID] == o {
		delete(locks.held, botUserID)
	}
}

// Held returns the bots whose locks this Ownership holds.
func (o *Ownership) Held() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.held))
	for bot := range o.held {
		out = append(out, bot)
	}
	return out
}

// Close releases every lock (by ending the connection) and stops the checks.
func (o *Ownership) Close() error {
	o.stopOnce.Do(func() { close(o.stop) })
	<-o.done
	o.stmt.Lock() // after the statements under way
	defer o.stmt.Unlock()
	o.mu.Lock()
	if o.conn == nil {
		defer o.mu.Unlock()
		for bot := range o.held {
			o.releaseInMemory(bot)
		}
		o.held = map[string]int64{}
		return nil
	}
	o.held = map[string]int64{}
	if o.lostErr == nil {
		o.lostErr = errors.New("the ownership was closed")
	}
	o.mu.Unlock()
	// Closing a pooled connection returns it to the pool with its session (and locks): the
	// locks are ended with it instead.
	err := o.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = o.conn.Close()
	if err != nil && !errors.Is(err, driver.ErrBadConn) && !errors.Is(err, sql.ErrConnDone) { // already ended
		return fmt.Errorf("failed to close the ownership connection: %w", err)
	}
	return nil
}

// watch checks the connection every interval until Close, and reports a failed check as lost.
func (o *Ownership) watch() {
	defer close(o.done)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ownershipCheckTimeout)
		_, err := o.conn.ExecContext(ctx, `SELECT 1`)
		cancel()
		if err != nil {
			o.mu.Lock()
			_ = o.failed(fmt.Errorf("%w: %w", ErrOwnershipLost, err))
			o.mu.Unlock()
			return
		}
	}
}

// failed records that the connection ended (o.mu held) when err says so, and returns err. The
// server ends a session's locks with it, so none is held any more.
func (o *Ownership) failed(err error) error {
	if o.lostErr != nil || !o.connectionEnded(err) {
		return err
	}
	if !errors.Is(err, ErrOwnershipLost) {
		err = fmt.Errorf("%w: %w", ErrOwnershipLost, err)
	}
	o.lostErr = err
	o.held = map[string]int64{}
	o.lostOnce.Do(func() { close(o.lost) })
	return err
}

// connectionEnded tells whether err means the ownership connection is gone: any error of a
// check (wrapped in ErrOwnershipLost by watch), or a broken connection in Acquire or Release (an
// error that only refused or cancelled a statement leaves the session and its locks).
func (o *Ownership) connectionEnded(err error) bool {
	return errors.Is(err, ErrOwnershipLost) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		isConnError(err) || postgresSessionEnded(err)
}

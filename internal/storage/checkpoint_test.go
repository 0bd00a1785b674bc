package storage

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/wait"
)

// A commit never copies the WAL into the database file itself: SQLite's automatic checkpoint
// (every 1,000 pages of WAL, run by whichever connection commits, fsync included) would stall
// the sync loop's hand-over or a send answer for tens of milliseconds. Every connection of the
// pool has it off; the DB's own checkpointer does it in the background.
func TestCommitsLeaveCheckpointsToTheCheckpointer(t *testing.T) {
	sqliteOnly(t, "the SQLite WAL")
	db := openTest(t)
	ctx := t.Context()
	conns := make([]*sql.Conn, 0, 3)
	for range 3 { // several at once, so that the pool opens new ones
		c, err := db.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var n int
		if err := c.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("connection %d: PRAGMA wal_autocheckpoint = %d, want 0 (checkpoints off the commit path)", len(conns), n)
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// What is committed reaches the database file without anyone calling Checkpoint, and without
// the WAL first growing to SQLite's automatic threshold (1,000 pages): the checkpointer copies
// it in the background.
func TestCheckpointerCopiesTheWALIntoTheFile(t *testing.T) {
	sqliteOnly(t, "the SQLite WAL")
	db := openTest(t)
	ctx := t.Context()
	before := fileSize(t, db.Path())
	// About 200 pages of WAL: well under the automatic checkpoint's 1,000.
	body := `{"body":"` + strings.Repeat("x", 3000) + `"}`
	ms := make([]Message, 250)
	for i := range ms {
		ms[i] = Message{BotUserID: "@bot:example.org", RoomID: "!room:example.org", EventID: fmt.Sprintf("$e%d", i),
			Sender: "@alice:example.org", Time: time.UnixMilli(1_700_000_000_000), Content: []byte(body)}
	}
	if err := db.Messages().PutMessages(ctx, ms); err != nil {
		t.Fatal(err)
	}
	want := before + 250*3000
	wait.For(t, 10*time.Second, "the messages in the database file (not only in the WAL)", func() bool {
		return fileSize(t, db.Path()) >= want
	})
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// The retention's Checkpoint (TRUNCATE) is never refused because the checkpointer happens to run
// one at that moment: a refused Checkpoint leaves pruned rows in the WAL until the next pass.
func TestCheckpointIsNotRefusedForTheCheckpointer(t *testing.T) {
	sqliteOnly(t, "the SQLite WAL")
	db := openTest(t)
	ctx := t.Context()
	db.stopCheckpointer()
	db.stopCheckpointer = db.startCheckpointer(time.Millisecond) // as often as it can, to meet Checkpoint
	body := []byte(`{"body":"` + strings.Repeat("x", 2000) + `"}`)
	for i := range 200 {
		m := Message{BotUserID: "@bot:example.org", RoomID: "!room:example.org", EventID: fmt.Sprintf("$e%d", i),
			Sender: "@alice:example.org", Time: time.UnixMilli(1_700_000_000_000), Content: body}
		if err := db.Messages().PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.Checkpoint(ctx); err != nil || !ok {
			t.Fatalf("Checkpoint %d = %v, %v: refused while the checkpointer ran one", i, ok, err)
		}
	}
}

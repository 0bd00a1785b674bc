package media

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Prune deletes the records past GATEWAY_FILE_RETENTION with the bytes kept for them (an
// uploaded file, a downloaded and decrypted attachment), and leftovers without a record once
// they are as old; newer files and files the store did not write stay.
func TestMediaPrune(t *testing.T) {
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
	ctx := context.Background()
	uploaded, err := m.Put(ctx, "a.txt", "text/plain", bytes.NewReader([]byte("uploaded plaintext")))
	if err != nil {
		t.Fatal(err)
	}
	// A received encrypted attachment that LocalPath downloaded and decrypted into Dir.
	const received = "m0123456789abcdef"
	if err := m.saveRecord(ctx, received, &Record{Name: "b.txt", MXC: "mxc://hs/abc", Local: true}); err != nil {
		t.Fatal(err)
	}
	write := func(name string, mtime time.Time) string {
		p := filepath.Join(m.dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now().Add(25 * time.Hour)
	write(received, time.Now())
	orphanOld := write("f00000000000000000000000000000000", now.Add(-25*time.Hour))
	tempOld := write(".download-123", now.Add(-25*time.Hour))
	orphanNew := write("f11111111111111111111111111111111", now.Add(-time.Hour)) // a Put between rename and record
	foreign := write("README", now.Add(-100*time.Hour))

	// Without a file retention nothing goes.
	if p, err := m.Prune(ctx, now); err != nil || p != (FilePrune{}) {
		t.Fatalf("without a retention: %+v, %v", p, err)
	}
	m.db.SetRetention(storage.Retention{FileAge: 24 * time.Hour})
	// Within the retention nothing goes either.
	if p, err := m.Prune(ctx, time.Now()); err != nil || p.Records != 0 {
		t.Fatalf("within the retention: %+v, %v", p, err)
	}
	p, err := m.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Records != 2 || p.Files != 4 {
		t.Errorf("pruned %+v; want 2 records, 4 files (2 of the records, 2 leftovers)", p)
	}
	for _, gone := range []string{m.path(uploaded.ID), m.path(received), orphanOld, tempOld} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", filepath.Base(gone), err)
		}
	}
	for _, kept := range []string{orphanNew, foreign} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s was deleted: %v", filepath.Base(kept), err)
		}
	}
	for _, id := range []string{uploaded.ID, received} {
		if _, err := m.Stat(ctx, id); model.KindOf(err) != model.ErrNotFound {
			t.Errorf("Stat(%s) after the prune: %v, want not found", id, err)
		}
	}
}

package intake

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/wait"
)

// pendingFile is the staging file of the upload id, nil when it is not in progress.
func (m *Media) pendingFile(id string) *os.File {
	m.uploads.mu.Lock()
	defer m.uploads.mu.Unlock()
	if p := m.uploads.pending[id]; p != nil {
		return p.file
	}
	return nil
}

// An upload left without a call for GATEWAY_MEDIA_UPLOAD_TTL is dropped: its staging file
// (unnamed on disk) is closed and its reservation freed.
func TestFragmentedUploadExpires(t *testing.T) {
	dir := t.TempDir()
	m := New(Options{Files: newTestFiles(t, 1<<20, nil), UploadTTL: time.Second, UploadDir: dir})
	id, err := m.PrepareUpload("client", "f.bin", 10)
	if err != nil {
		t.Fatal(err)
	}
	staged := func() int {
		m.uploads.mu.Lock()
		defer m.uploads.mu.Unlock()
		return len(m.uploads.pending)
	}
	f := m.pendingFile(id)
	if f == nil {
		t.Fatal("the upload expired before it could be looked at")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the staging file has a name in GATEWAY_FILES_DIR: %v", entries)
	}
	wait.For(t, 10*time.Second, "the upload to expire", func() bool { return staged() == 0 })
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("the expired upload's staging file is still open")
	}
	if err := m.TransferUpload(id, 0, []byte("0123456789")); model.KindOf(err) != model.ErrNotFound || !strings.Contains(err.Error(), "GATEWAY_MEDIA_UPLOAD_TTL") {
		t.Fatalf("transfer to an expired upload: %v", err)
	}
	m.uploads.mu.Lock()
	reserved := m.uploads.reserved
	m.uploads.mu.Unlock()
	if reserved != 0 {
		t.Fatalf("%d bytes still reserved", reserved)
	}
}

// A fragmented upload keeps its bytes in an unnamed temporary file (nothing left on disk if the
// gateway dies), and PruneUploads drops it, with its file, once it is left for the upload TTL.
func TestPruneUploads(t *testing.T) {
	m := New(Options{Files: newTestFiles(t, 1<<20, nil)})
	up, err := m.PrepareUpload("client", "a.txt", 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.TransferUpload(up, 0, []byte("ab")); err != nil {
		t.Fatal(err)
	}
	f := m.pendingFile(up)
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("the upload's temporary file has a name on disk (%v)", err)
	}
	if n := m.PruneUploads(time.Now()); n != 0 {
		t.Fatalf("pruned %d fresh uploads", n)
	}
	if n := m.PruneUploads(time.Now().Add(m.uploadTTL() + time.Minute)); n != 1 {
		t.Fatalf("pruned %d old uploads, want 1", n)
	}
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("the pruned upload's file is still open")
	}
	if _, err := m.FinishUpload(context.Background(), up, ""); model.KindOf(err) != model.ErrNotFound {
		t.Errorf("finish of a pruned upload = %v, want not found", err)
	}
}

// The ranges a client writes are untrusted: whatever their order, overlaps and sizes, the
// recorded ranges stay sorted, disjoint and non-adjacent, and the first gap is the first byte
// never written.
func FuzzByteRanges(f *testing.F) {
	f.Add([]byte{0, 10, 20, 5, 9, 3}, uint8(32))
	f.Add([]byte{5, 1, 0, 5, 6, 200}, uint8(255))
	f.Add([]byte{1, 1, 3, 1, 5, 1, 7, 1}, uint8(9))
	f.Fuzz(func(t *testing.T, ops []byte, size uint8) {
		const limit = 4
		var r byteRanges
		written := make([]bool, int(size))
		for i := 0; i+1 < len(ops); i += 2 {
			lo, n := int64(ops[i]), int64(ops[i+1]%64)
			hi := min(lo+n, int64(size))
			if lo >= hi {
				continue
			}
			before := slices.Clone(r)
			if !r.add(lo, hi, limit) {
				if len(before) < limit || !slices.Equal(before, r) {
					t.Fatalf("refused [%d,%d) with %d ranges, or changed them: %v → %v", lo, hi, len(before), before, r)
				}
				continue
			}
			for j := lo; j < hi; j++ {
				written[j] = true
			}
		}
		if len(r) > limit {
			t.Fatalf("%d ranges, limit %d", len(r), limit)
		}
		for i, b := range r {
			if b.lo >= b.hi || (i > 0 && r[i-1].hi >= b.lo) {
				t.Fatalf("ranges not sorted, disjoint and apart: %v", r)
			}
		}
		for j := range written {
			in := slices.ContainsFunc(r, func(b byteRange) bool { return b.lo <= int64(j) && int64(j) < b.hi })
			if in != written[j] {
				t.Fatalf("byte %d: recorded %v, written %v (%v)", j, in, written[j], r)
			}
		}
		lo, hi, ok := r.gap(int64(size))
		first := slices.Index(written, false)
		if (first >= 0) != ok || (ok && (lo != int64(first) || hi <= lo || written[hi-1])) {
			t.Fatalf("gap(%d) = %d, %d, %v; first unwritten byte %d (%v)", size, lo, hi, ok, first, r)
		}
	})
}

// A one-shot upload (ReserveUpload) holds a share of its client's quota until it is released,
// as an unfinished fragmented upload does: a client holds at most maxUploadsPerClient uploads,
// of either kind; releasing twice frees once; other clients are not held back.
func TestReserveUploadSharesTheFragmentedQuota(t *testing.T) {
	const maxSize = 1 << 20
	m := New(Options{Files: newTestFiles(t, maxSize, nil)})
	if _, err := m.PrepareUpload("c", "f.bin", 10); err != nil {
		t.Fatal(err)
	}
	var releases []func()
	for range maxUploadsPerClient - 1 {
		release, err := m.ReserveUpload("c", 10)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	if _, err := m.ReserveUpload("c", 10); model.KindOf(err) != model.ErrRateLimited {
		t.Fatalf("one upload more than the quota: %v, want rate limited", err)
	}
	if _, err := m.PrepareUpload("c", "g.bin", 10); model.KindOf(err) != model.ErrRateLimited {
		t.Fatalf("a fragmented upload beyond the quota the one-shot ones hold: %v, want rate limited", err)
	}
	if release, err := m.ReserveUpload("other", maxSize*10); err != nil { // counted as maxSize
		t.Fatalf("another client: %v", err)
	} else {
		release()
	}
	releases[0]()
	releases[0]()
	if _, err := m.ReserveUpload("c", 10); err != nil {
		t.Fatalf("after one release: %v", err)
	}
	if _, err := m.ReserveUpload("c", 10); model.KindOf(err) != model.ErrRateLimited {
		t.Fatalf("a second release of the same upload freed another slot: %v", err)
	}
}

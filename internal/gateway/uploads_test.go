package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func fragment(t *testing.T, srv *httptest.Server, params map[string]any) map[string]any {
	t.Helper()
	return v12Action(t, srv, "upload_file_fragmented", params)
}

func prepareUpload(t *testing.T, srv *httptest.Server, size int) string {
	t.Helper()
	id, _ := okData(t, fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": size}))["file_id"].(string)
	if id == "" {
		t.Fatal("prepare gave no file_id")
	}
	return id
}

func transfer(t *testing.T, srv *httptest.Server, id string, off int, data []byte) map[string]any {
	t.Helper()
	return fragment(t, srv, map[string]any{"stage": "transfer", "file_id": id, "offset": off, "data": base64.StdEncoding.EncodeToString(data)})
}

// finish stores the file only when every byte of total_size was written: one byte sent of a
// declared megabyte is refused, and so is a gap between two parts; the upload stays, so that
// the missing bytes can still be sent.
func TestFragmentedUploadRefusesHoles(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	files := newTestFiles(t, 1<<20, nil)
	h.opts.Media = NewMedia(MediaOptions{Files: files})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	big := prepareUpload(t, srv, 1<<20)
	okData(t, transfer(t, srv, big, 1<<20-1, []byte{'x'})) // the last byte: the staging file has the full size
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": big}); r["retcode"] != float64(v12BadParam) {
		t.Fatalf("finish after 1 byte of 1 MiB: %v, want a bad param", r)
	}

	payload := bytes.Repeat([]byte("0123456789"), 10)
	sum := sha256.Sum256(payload)
	id := prepareUpload(t, srv, len(payload))
	okData(t, transfer(t, srv, id, 0, payload[:40]))
	okData(t, transfer(t, srv, id, 30, payload[30:50])) // overlaps are fine
	okData(t, transfer(t, srv, id, 60, payload[60:]))
	r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id})
	if r["retcode"] != float64(v12BadParam) || !strings.Contains(r["message"].(string), "50") {
		t.Fatalf("finish with bytes 50-59 missing: %v, want a bad param naming the gap", r)
	}
	for _, bad := range []struct {
		off  int
		data []byte
	}{{-1, []byte("x")}, {95, payload[:10]}, {100, []byte("x")}} {
		if r := transfer(t, srv, id, bad.off, bad.data); r["retcode"] != float64(v12BadParam) {
			t.Fatalf("transfer at %d of %d bytes: %v, want refused", bad.off, len(bad.data), r)
		}
	}
	okData(t, transfer(t, srv, id, 50, payload[50:60])) // the gap, filled
	wrong := sha256.Sum256([]byte("other"))
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id, "sha256": hex.EncodeToString(wrong[:])}); r["retcode"] != float64(v12BadParam) {
		t.Fatalf("finish with a wrong sha256: %v", r)
	}
	fin := okData(t, fragment(t, srv, map[string]any{"stage": "finish", "file_id": id, "sha256": strings.ToUpper(hex.EncodeToString(sum[:]))}))
	fileID, _ := fin["file_id"].(string)
	if got := fileBytes(t, files, fileID); !bytes.Equal(got, payload) {
		t.Fatalf("stored %q", got)
	}
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id}); r["retcode"] != float64(v12NotFound) {
		t.Fatalf("finishing twice: %v", r)
	}
}

// prepare reserves total_size against the caller's quota (a connection, or an HTTP client's
// address) and the gateway's cap: a client cannot hold every slot, and another client still
// gets one.
func TestFragmentedUploadQuota(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	const maxSize = 1 << 20
	h.opts.Media = NewMedia(MediaOptions{Files: newTestFiles(t, maxSize, nil)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	var held []string
	for {
		r := fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": maxSize / 2})
		if r["retcode"] != float64(0) {
			if r["retcode"] != float64(v12RateLimited) {
				t.Fatalf("prepare over the quota: %v, want a rate-limit refusal", r)
			}
			break
		}
		held = append(held, r["data"].(map[string]any)["file_id"].(string))
		if len(held) > 16 {
			t.Fatalf("one client holds %d unfinished uploads of %d bytes", len(held), maxSize/2)
		}
	}
	if len(held) == 0 {
		t.Fatal("no upload at all")
	}

	// Another client (a WebSocket connection) still gets a slot.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), map[string][]string{"Authorization": {"Bearer " + testToken}})
	req, _ := json.Marshal(map[string]any{"action": "upload_file_fragmented", "echo": "p", "params": map[string]any{"stage": "prepare", "name": "g.bin", "total_size": 10}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	for {
		f := readJSON(t, ctx, c)
		if f["echo"] != "p" {
			continue
		}
		if f["retcode"] != float64(0) {
			t.Fatalf("another client's prepare: %v", f)
		}
		break
	}

	// Finishing (or abandoning) one frees its reservation.
	part := bytes.Repeat([]byte{'a'}, maxSize/2)
	okData(t, transfer(t, srv, held[0], 0, part))
	okData(t, fragment(t, srv, map[string]any{"stage": "finish", "file_id": held[0]}))
	prepareUpload(t, srv, maxSize/2)

	if r := fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": maxSize + 1}); r["retcode"] != float64(v12FileTooLarge) {
		t.Fatalf("prepare beyond GATEWAY_MEDIA_MAX_SIZE: %v", r)
	}
}

// An upload left without a call for GATEWAY_MEDIA_UPLOAD_TTL is dropped: its staging file
// (unnamed on disk) is closed and its reservation freed.
func TestFragmentedUploadExpires(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	dir := t.TempDir()
	m := NewMedia(MediaOptions{Files: newTestFiles(t, 1<<20, nil), UploadTTL: time.Second, UploadDir: dir})
	h.opts.Media = m
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	id := prepareUpload(t, srv, 10)
	staged := func() int {
		m.uploads.mu.Lock()
		defer m.uploads.mu.Unlock()
		return len(m.uploads.pending)
	}
	m.uploads.mu.Lock()
	p := m.uploads.pending[id]
	m.uploads.mu.Unlock()
	if p == nil {
		t.Fatal("the upload expired before it could be looked at")
	}
	f := p.file
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the staging file has a name in GATEWAY_FILES_DIR: %v", entries)
	}
	waitUntil(t, "the upload to expire", func() bool { return staged() == 0 })
	if _, err := f.Write([]byte("x")); err == nil {
		t.Error("the expired upload's staging file is still open")
	}
	if r := transfer(t, srv, id, 0, []byte("0123456789")); r["retcode"] != float64(v12NotFound) || !strings.Contains(r["message"].(string), "GATEWAY_MEDIA_UPLOAD_TTL") {
		t.Fatalf("transfer to an expired upload: %v", r)
	}
	m.uploads.mu.Lock()
	reserved := m.uploads.reserved
	m.uploads.mu.Unlock()
	if reserved != 0 {
		t.Fatalf("%d bytes still reserved", reserved)
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

package calls

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// upload_file's type data is decoded as it is stored: storing 8 MiB of base64 allocates far
// less than the file (decoding it whole allocated the file and a copy of the text).
func TestUploadDataDecodedAsStream(t *testing.T) {
	ctx := context.Background()
	db, err := storage.Open(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	files, err := media.New(ctx, media.Options{
		DB: db, Dir: filepath.Join(t.TempDir(), "files"), MaxSize: 16 << 20, PublicURL: "http://gw.test", URLTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := newFakeHub()
	hub.set.Media = intake.New(intake.Options{Files: files})
	text := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16)) // 8 MiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	// What upload_file does with type data (ob12's uploadFile), without decoding the params.
	if _, err := (actionHost{New(hub)}).Media().PutBase64(ctx, "f.bin", text); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
		t.Errorf("upload_file data of 8 MiB of base64 allocated %d bytes, want under 2 MiB", alloc)
	}
}

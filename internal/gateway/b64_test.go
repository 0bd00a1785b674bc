package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"runtime"
	"testing"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
)

// A file sent as base64 is decoded as it is stored: storing 8 MiB of base64 allocates far less
// than the file (decoding it whole allocated the file and a copy of the text). upload_file's
// type data is measured in package calls (TestUploadDataDecodedAsStream).
func TestBase64DecodedAsStream(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	m := intake.New(intake.Options{Files: newTestFiles(t, 16<<20, nil)})
	h.opts.Media = m
	text := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16)) // 8 MiB
	measure := func(what string, store func() error) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := store(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
			t.Errorf("%s of 8 MiB of base64 allocated %d bytes, want under 2 MiB", what, alloc)
		}
	}
	src := "base64://" + text
	measure("base64:// source", func() error {
		_, err := m.Resolve(context.Background(), src, "f.bin")
		return err
	})
	dataURL := "data:application/octet-stream;base64," + text
	measure("data: URL", func() error {
		_, err := m.Resolve(context.Background(), dataURL, "f.bin")
		return err
	})
}

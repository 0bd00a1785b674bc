package gateway

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"

	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/model"
)

// newTestFiles is the real file store on a fresh database.
func newTestFiles(t *testing.T, maxSize int64, now func() time.Time) *media.Store {
	t.Helper()
	db := newTestDB(t)
	m, err := media.New(context.Background(), media.Options{
		DB: db, Dir: filepath.Join(t.TempDir(), "files"), MaxSize: maxSize, PublicURL: "http://gw.test", URLTTL: time.Hour, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fileBytes(t *testing.T, files model.Files, fileID string) []byte {
	t.Helper()
	_, rc, err := files.Open(context.Background(), fileID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

// Whatever a v11 client puts in segment data never panics the decoder, and a segment it accepts
// is a known neutral type.
func FuzzFromV11SegmentData(f *testing.F) {
	db := newTestDB(f)
	for _, s := range []string{
		`[{"type":"image","data":{"file":"https://x/y.png"}}]`, `[{"type":"location","data":{"lat":"1","lon":2}}]`,
		`[{"type":"at","data":{"qq":1e300}}]`, `[{"type":"record","data":{"file":null,"url":["x"]}}]`,
		`[{"type":"reply","data":{"id":{"a":1}}}]`, `[{"type":"file","data":{"file":"mabc","name":7}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		segs, err := ob11.DecodeMessage(raw, false)
		if err != nil {
			return
		}
		out, err := fromV11SegmentsAs(context.Background(), db.IDs(), testSelf, segs)
		if err != nil {
			return
		}
		for _, s := range out {
			if m, ok := s.(model.Media); ok && (m.Source == "" || m.File.ID != "" || m.Kind == "") {
				t.Fatalf("media segment without a source: %+v", s)
			}
		}
	})
}

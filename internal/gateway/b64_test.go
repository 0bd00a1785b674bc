package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"runtime"
	"strings"
	"testing"
)

// base64Reader accepts and refuses what decodeBase64 does, and yields the same bytes.
func checkBase64Reader(t *testing.T, s string) {
	t.Helper()
	want, werr := decodeBase64(s)
	got, gerr := io.ReadAll(base64Reader(s))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%.60q: decodeBase64 error %v, base64Reader error %v", s, werr, gerr)
	}
	if gerr != nil {
		if !strings.Contains(gerr.Error(), "not base64") {
			t.Fatalf("%.60q: error %q does not say not base64", s, gerr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%.60q: base64Reader %x, decodeBase64 %x", s, got, want)
	}
}

func TestBase64Reader(t *testing.T) {
	for _, s := range []string{
		"", "aGk=", "aGk", "aGk=\n", "a G\tk\r\n=", "-_-_", "+/+/", "+/-_", "====", "a", "ab=cd", "aGk=\n=",
		"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
		strings.Repeat("QUJD", 100000) + "\n" + strings.Repeat("REVG", 3),
	} {
		checkBase64Reader(t, s)
	}
}

func FuzzBase64Reader(f *testing.F) {
	for _, s := range []string{"aGk=", "aGk", "-_-_", "+/+/", "a\nGk=", "====", "a", "a b", "ab=cd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkBase64Reader(t, s) })
}

// A file sent as base64 is decoded as it is stored: storing 8 MiB of base64 allocates far less
// than the file (decoding it whole allocated the file and a copy of the text).
func TestBase64DecodedAsStream(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	m := NewMedia(MediaOptions{Files: newTestFiles(t, 16<<20, nil)})
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
	measure("upload_file data", func() error {
		_, err := v12UploadFile(&call{ctx: context.Background(), hub: h, version: 12}, v12UploadFileParams{Type: "data", Name: "f.bin", Data: &text})
		return err
	})
}

// dataURLReader gives what parseDataURL gives.
func checkDataURLReader(t *testing.T, s string) {
	t.Helper()
	wantType, want, werr := parseDataURL(s)
	gotType, r, gerr := dataURLReader(s)
	var got []byte
	if gerr == nil {
		got, gerr = io.ReadAll(r)
	}
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%.60q: parseDataURL error %v, dataURLReader error %v", s, werr, gerr)
	}
	if werr == nil && (gotType != wantType || !bytes.Equal(got, want)) {
		t.Fatalf("%.60q: dataURLReader %q %x, parseDataURL %q %x", s, gotType, got, wantType, want)
	}
}

func TestDataURLReader(t *testing.T) {
	for _, s := range []string{
		"data:,x", "data:text/plain;charset=utf-8,%41", "data:image/png;base64,iVBORw0KGgo=", "data:;base64,",
		"data:a/b;c,%zz", "DATA:;base64,aGk", "data:;base64,a", "data:bad type;base64,aGk=", "data:;base64", "nodata:,x",
		"data:text/plain;base64,aGk=,more",
	} {
		checkDataURLReader(t, s)
	}
}

func FuzzDataURLReader(f *testing.F) {
	for _, s := range []string{"data:,x", "data:image/png;base64,iVBORw0KGgo=", "data:;base64,", "data:a/b;c,%zz", "DATA:;base64,aGk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkDataURLReader(t, s) })
}

package intake

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// Base64Reader accepts and refuses what DecodeBase64 does, and yields the same bytes.
func checkBase64Reader(t *testing.T, s string) {
	t.Helper()
	want, werr := DecodeBase64(s)
	got, gerr := io.ReadAll(Base64Reader(s))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%.60q: DecodeBase64 error %v, Base64Reader error %v", s, werr, gerr)
	}
	if gerr != nil {
		if !strings.Contains(gerr.Error(), "not base64") {
			t.Fatalf("%.60q: error %q does not say not base64", s, gerr)
		}
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%.60q: Base64Reader %x, DecodeBase64 %x", s, got, want)
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

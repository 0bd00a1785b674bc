// Package vectors holds the helpers of the JSON test vectors in the packages' testdata/ folders:
// strict reading, readable writing (for -update) and comparison by value.
package vectors

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// DecodeStrict unmarshals a vector into v, refusing unknown fields (a typo in a vector fails).
func DecodeStrict(t testing.TB, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("malformed vector: %v", err)
	}
}

// Marshal marshals v compactly without escaping <, > and &, so that vectors stay readable.
func Marshal(t testing.TB, v any) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// Write writes v as an indented vector file (go test -update).
func Write(t testing.TB, path string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Canonical renders a JSON document with sorted keys and no spacing.
func Canonical(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return string(Marshal(t, v))
}

// AssertSameJSON compares two JSON documents by value (key order and spacing aside).
func AssertSameJSON(t testing.TB, what string, want, got json.RawMessage) {
	t.Helper()
	if w, g := Canonical(t, want), Canonical(t, got); w != g {
		t.Errorf("%s differ\n got: %s\nwant: %s", what, g, w)
	}
}

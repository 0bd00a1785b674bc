// Package vectors holds the helpers of the JSON test vectors in the packages' testdata/ folders:
// strict reading, readable writing (for -update) and comparison by value.
package vectors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

var update = flag.Bool("update", false, "rewrite the expected part of the testdata vectors and golden files")

// Updating tells whether the test run rewrites expected results (go test -update).
func Updating() bool { return *update }

// Each runs run as a subtest for every testdata/dir/*.json file; no file at all fails.
func Each(t *testing.T, dir string, run func(t *testing.T, path string, raw []byte)) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no vectors in testdata/%s", dir)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			run(t, path, raw)
		})
	}
}

// Settle handles the expected part of a vector: with -update it stores got as *want and
// rewrites the file (and reports true: nothing to compare); otherwise a vector without a want
// fails. vector is the whole decoded file, want points at its expected part.
func Settle[W any](t testing.TB, path string, vector any, want **W, got *W) bool {
	t.Helper()
	if *update {
		*want = got
		Write(t, path, vector)
		return true
	}
	if *want == nil {
		t.Fatalf("%s has no expected part; run the test with -update and review the result", path)
	}
	return false
}

// ErrorKind names the model.ErrorKind of an action error; anything else fails the test.
func ErrorKind(t testing.TB, err error) string {
	t.Helper()
	var ae *model.ActionError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not a *model.ActionError", err)
	}
	return ae.Kind.String()
}

// DecodeStrict unmarshals a vector into v, refusing unknown fields (a typo in a vector fails).
func DecodeStrict(t testing.TB, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("malformed vector: %v", err)
	}
}

// ReadFile decodes testdata/name into v as DecodeStrict does; the failure names the file.
func ReadFile(t testing.TB, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
}

// ContentError is a vector of input that must be refused: Content, or ContentBase64 when the
// input cannot be written as JSON text, and a part of the expected error's message.
type ContentError struct {
	Name          string `json:"name"`
	Content       string `json:"content"`
	ContentBase64 string `json:"content_base64"`
	Error         string `json:"error"`
}

// Input is the vector's input: ContentBase64 decoded when it is set, else Content.
func (v ContentError) Input(t testing.TB) string {
	t.Helper()
	if v.ContentBase64 == "" {
		return v.Content
	}
	b, err := base64.StdEncoding.DecodeString(v.ContentBase64)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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

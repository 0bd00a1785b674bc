package transport

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// The X-Signature of a body matches the vector (HMAC-SHA1, as OneBot v11 and go-cqhttp sign).
func TestSignatureVector(t *testing.T) {
	var v struct{ Secret, Body, Signature string }
	b, err := os.ReadFile(filepath.Join("testdata", "webhook_signature.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := Signature(v.Secret, []byte(v.Body)); got != v.Signature {
		t.Fatalf("signature = %s, want %s", got, v.Signature)
	}
}

package syncapi

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// Decode keeps the encryption part of a /sync body as it came, and Crypto.JSON gives e2ee a body
// with exactly those fields: each one equal to the full body's, one the homeserver left out (no
// fallback key support) still left out rather than sent as empty or null.
func TestDecodeKeepsTheEncryptionPart(t *testing.T) {
	for name, body := range map[string]string{
		"all": `{"next_batch":"s2","rooms":{"join":{"!r:x":{"timeline":{"events":[{"type":"m.room.message","content":{"body":"hi"}}]}}}},
			"to_device":{"events":[{"type":"m.room_key","sender":"@a:x","content":{"room_id":"!r:x"}},{"type":5}]},
			"device_lists":{"changed":["@a:x"],"left":["@b:x"]},
			"device_one_time_keys_count":{"signed_curve25519":42},
			"device_unused_fallback_key_types":[]}`,
		"no fallback support": `{"next_batch":"s2","device_one_time_keys_count":{"signed_curve25519":0}}`,
		"fallback null":       `{"next_batch":"s2","device_unused_fallback_key_types":null}`,
		"none":                `{"next_batch":"s2","rooms":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := Decode([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			var whole, part map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &whole); err != nil {
				t.Fatal(err)
			}
			got := resp.Crypto.JSON()
			if err := json.Unmarshal(got, &part); err != nil {
				t.Fatalf("Crypto.JSON() = %s: %v", got, err)
			}
			for _, k := range []string{"to_device", "device_lists", "device_one_time_keys_count", "device_unused_fallback_key_types"} {
				w, inWhole := whole[k]
				p, inPart := part[k]
				if inWhole && string(w) == "null" { // null and absent read the same (nil)
					inWhole, w = false, nil
				}
				if inPart && string(p) == "null" {
					inPart, p = false, nil
				}
				if inWhole != inPart || !jsonEqual(t, w, p) {
					t.Errorf("%s: body has %s (present %v), the encryption part %s (present %v)", k, w, inWhole, p, inPart)
				}
			}
			for k := range part {
				if _, ok := whole[k]; !ok {
					t.Errorf("the encryption part has %s, which the body has not", k)
				}
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var ca, cb bytes.Buffer
	if err := json.Compact(&ca, a); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&cb, b); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// Quiet holds only for an encryption part without to-device events and device list changes: the
// sync loop then handles it after the room events (testdata/crypto_quiet.json). Anything it cannot
// read is not quiet (handled first, as before).
func TestCryptoQuietVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/crypto_quiet.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []struct {
		Name  string          `json:"name"`
		Quiet bool            `json:"quiet"`
		Body  json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(raw, &vectors); err != nil {
		t.Fatal(err)
	}
	for _, v := range vectors {
		resp, err := Decode(v.Body)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got := resp.Crypto.Quiet(); got != v.Quiet {
			t.Errorf("%s: Quiet() = %v, want %v", v.Name, got, v.Quiet)
		}
	}
}

package e2ee

import (
	"os"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestParseSyncCrypto(t *testing.T) {
	body, err := os.ReadFile("testdata/sync_crypto.json")
	if err != nil {
		t.Fatal(err)
	}
	resp, fallback, errs := parseSyncCrypto(body)
	if resp == nil {
		t.Fatalf("no response: %v", errs)
	}
	if len(resp.ToDevice.Events) != 1 || resp.ToDevice.Events[0].Sender != "@a:x" {
		t.Fatalf("want the one well-formed to-device event, got %+v", resp.ToDevice.Events)
	}
	if len(errs) != 2 {
		t.Fatalf("want the two malformed to-device events reported, got %v", errs)
	}
	if len(resp.DeviceLists.Changed) != 1 || resp.DeviceOTKCount.SignedCurve25519 != 12 {
		t.Fatalf("device lists or key counts lost: %+v", resp)
	}
	if fallback == nil || len(*fallback) != 0 {
		t.Fatalf("an empty fallback key list must be told from a missing one: %v", fallback)
	}
	_, fallback, _ = parseSyncCrypto([]byte(`{"device_unused_fallback_key_types":["signed_curve25519"]}`))
	if fallback == nil || (*fallback)[0] != id.KeyAlgorithmSignedCurve25519 {
		t.Fatalf("fallback key types: %v", fallback)
	}
	if _, fallback, _ = parseSyncCrypto([]byte(`{}`)); fallback != nil {
		t.Fatal("a server that says nothing about fallback keys must give nil")
	}
	if resp, _, errs := parseSyncCrypto([]byte(`not json`)); resp != nil || len(errs) != 1 {
		t.Fatal("malformed JSON must be one error and no response")
	}
}

// FuzzParseSyncCrypto feeds the decoder of the homeserver's /sync encryption data arbitrary bytes.
func FuzzParseSyncCrypto(f *testing.F) {
	if body, err := os.ReadFile("testdata/sync_crypto.json"); err == nil {
		f.Add(body)
	}
	f.Add([]byte(`{"to_device":{"events":[null,1,"x",{}]}}`))
	f.Add([]byte(`{"device_one_time_keys_count":{"signed_curve25519":-1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, _, errs := parseSyncCrypto(body)
		if resp == nil && len(errs) == 0 {
			t.Fatal("no response and no error")
		}
		if resp != nil {
			for _, evt := range resp.ToDevice.Events {
				if evt == nil || evt.Sender == "" || evt.Type.Type == "" {
					t.Fatalf("an invalid to-device event passed: %+v", evt)
				}
			}
		}
	})
}

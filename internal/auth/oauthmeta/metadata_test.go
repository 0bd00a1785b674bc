package oauthmeta

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// metadataVector is one file of testdata/metadata: a metadata document and what the gateway
// makes of it.
type metadataVector struct {
	Metadata   json.RawMessage `json:"metadata"`
	Error      string          `json:"error"`       // part of the validation error; "" = valid
	DeviceFlow bool            `json:"device_flow"` // the device authorization grant is used
	Mode       string          `json:"response_mode"`
	Scope      string          `json:"scope"` // requested for oauth_scope "" and device DEV
}

func TestMetadataVectors(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no vectors")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var v metadataVector
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			md, err := Parse(v.Metadata)
			if v.Error != "" {
				if err == nil || !strings.Contains(err.Error(), v.Error) {
					t.Fatalf("err = %v, want one saying %q", err, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if md.SupportsDeviceFlow() != v.DeviceFlow {
				t.Errorf("device flow %t, want %t", md.SupportsDeviceFlow(), v.DeviceFlow)
			}
			if v.Mode != "" && md.ResponseMode() != v.Mode {
				t.Errorf("response mode %s, want %s", md.ResponseMode(), v.Mode)
			}
			if got := md.Scope("", "DEV"); got != v.Scope {
				t.Errorf("scope %q, want %q", got, v.Scope)
			}
		})
	}
}

func TestScopeKeepsConfiguredAndAddsDevice(t *testing.T) {
	md := &Metadata{ScopesSupported: []string{scopeAPIStable}}
	if got := md.Scope("openid urn:matrix:client:api:*", "D1"); got != "openid urn:matrix:client:api:* urn:matrix:client:device:D1" {
		t.Errorf("got %q", got)
	}
	if got := md.Scope("urn:matrix:client:api:* urn:matrix:org.matrix.msc2967.client:device:X", "D1"); strings.Contains(got, "D1") {
		t.Errorf("a device scope was added to one that has one: %q", got)
	}
}

func FuzzParseMetadata(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		var v metadataVector
		if json.Unmarshal(raw, &v) == nil {
			f.Add([]byte(v.Metadata))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := Parse(data)
		if err != nil {
			return
		}
		if md.TokenEndpoint == "" {
			t.Fatal("valid metadata without a token endpoint")
		}
		_ = md.Scope("", "D")
	})
}

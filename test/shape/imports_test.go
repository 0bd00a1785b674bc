package shape

import (
	"os/exec"
	"strings"
	"testing"
)

// faces are the protocol packages: they import the neutral model and the seam (internal/face,
// internal/onebot), never the hub or storage (issue 11).
var faces = []string{
	"internal/face",
	"internal/onebot",
	"internal/onebot/v11",
	"internal/onebot/v12",
	"internal/satori",
}

// forbidden are the packages no face may depend on, directly or not.
var forbidden = []string{"internal/gateway", "internal/storage"}

func TestFacesNeverImportTheHubOrStorage(t *testing.T) {
	for _, dir := range faces {
		out, err := exec.Command("go", "list", "-tags", "goolm", "-deps", "../../"+dir).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", dir, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 2 {
			t.Fatalf("go list %s listed %d packages", dir, len(deps))
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if d == modulePath+"/"+f || strings.HasPrefix(d, modulePath+"/"+f+"/") {
					t.Errorf("%s depends on %s", dir, d)
				}
			}
		}
	}
}

const modulePath = "github.com/matrix-onebot/gateway"

// The three protocol faces never depend on one another: what two of them share lives in
// internal/onebot or internal/face (v11 imported v12 for the idempotency digest of a send).
func TestFacesNeverImportEachOther(t *testing.T) {
	protocols := []string{"internal/onebot/v11", "internal/onebot/v12", "internal/satori"}
	for _, dir := range protocols {
		out, err := exec.Command("go", "list", "-tags", "goolm", "-deps", "../../"+dir).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", dir, err, out)
		}
		for _, d := range strings.Fields(string(out)) {
			for _, other := range protocols {
				if other != dir && (d == modulePath+"/"+other || strings.HasPrefix(d, modulePath+"/"+other+"/")) {
					t.Errorf("%s depends on %s", dir, d)
				}
			}
		}
	}
}

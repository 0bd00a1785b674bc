// Package e2e drives the gateway binary against a real Synapse, with a real Matrix user on one
// side and real OneBot clients (NoneBot2, or a plain WebSocket client) on the other.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

var (
	gatewayBin string
	hs         *harness.Homeserver
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gateway-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	gatewayBin = filepath.Join(tmp, "gateway")
	build := exec.Command("go", "build", "-tags", "goolm", "-o", gatewayBin, "./cmd/gateway")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to build the gateway:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	hs, err = harness.StartSynapse(ctx, harness.SynapseOptions{Dir: filepath.Join(tmp, "synapse")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed to start Synapse:", err)
		return 1
	}
	defer hs.Stop()
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "last lines of Synapse's log:\n%s\n", hs.LogTail(30))
	}
	return code
}

// deadline is how long a test waits for one condition.
const deadline = 60 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*deadline)
	t.Cleanup(cancel)
	return ctx
}

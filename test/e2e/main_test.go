// Package e2e drives the gateway binary against a real Synapse, with a real Matrix user on one
// side and real OneBot clients (NoneBot2, or a plain WebSocket client) on the other.
package e2e

import (
	"context"
	"fmt"
	"os"
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
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	gatewayBin = filepath.Join(tmp, "gateway")
	if err := harness.BuildGateway(ctx, gatewayBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
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

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*deadline)
	t.Cleanup(cancel)
	return ctx
}

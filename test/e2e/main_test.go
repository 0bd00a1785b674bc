// Package e2e drives the gateway binary against a real Synapse, with a real Matrix user on one
// side and real OneBot clients (NoneBot2, or a plain WebSocket client) on the other.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

var (
	gatewayBin string
	// hs is the homeserver the helpers (newBotUser, newHuman, botJSON) use: defaultHS, or
	// Dendrite while onEachHomeserver runs a proof's dendrite subtest.
	hs *harness.Homeserver
	// defaultHS is the package's Synapse, or its Dendrite with E2E_HOMESERVER=dendrite (to see
	// which other tests hold on Dendrite; the README lists what differs).
	defaultHS *harness.Homeserver

	synapseHS *harness.Homeserver
	tmpDir    string

	dendriteOnce sync.Once
	dendriteHS   *harness.Homeserver
	dendriteErr  error
)

// dendrite returns the package's Dendrite, started on first use (the core proofs run on it
// too; tests that never ask for it do not pay for it).
func dendrite(t testing.TB) *harness.Homeserver {
	t.Helper()
	dendriteOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
		defer cancel()
		dendriteHS, dendriteErr = harness.StartDendrite(ctx, harness.DendriteOptions{Dir: filepath.Join(tmpDir, "dendrite")})
	})
	if dendriteErr != nil {
		t.Fatalf("failed to start Dendrite: %v", dendriteErr)
	}
	return dendriteHS
}

// onEachHomeserver runs proof once per homeserver implementation, as the subtests "synapse"
// and "dendrite", with hs pointing at that server. The tests of this package are not
// parallel, so swapping hs for the subtest is safe.
func onEachHomeserver(t *testing.T, proof func(t *testing.T)) {
	for _, name := range []string{"synapse", "dendrite"} {
		t.Run(name, func(t *testing.T) {
			server := synapseHS
			if name == "dendrite" {
				server = dendrite(t)
			}
			hs = server
			t.Cleanup(func() { hs = defaultHS })
			proof(t)
			if t.Failed() {
				t.Logf("last lines of %s's log:\n%s", name, server.LogTail(30))
			}
		})
	}
}

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
	tmpDir = tmp
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
	synapseHS, defaultHS = hs, hs
	defer func() {
		if dendriteHS != nil {
			dendriteHS.Stop()
		}
	}()
	switch kind := os.Getenv("E2E_HOMESERVER"); kind {
	case "", "synapse":
	case "dendrite":
		dendriteOnce.Do(func() {
			dendriteHS, dendriteErr = harness.StartDendrite(ctx, harness.DendriteOptions{Dir: filepath.Join(tmp, "dendrite")})
		})
		if dendriteErr != nil {
			fmt.Fprintln(os.Stderr, "failed to start Dendrite:", dendriteErr)
			return 1
		}
		hs, defaultHS = dendriteHS, dendriteHS
	default:
		fmt.Fprintf(os.Stderr, "E2E_HOMESERVER=%q: set it to synapse (the default) or dendrite\n", kind)
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "last lines of %s's log:\n%s\n", defaultHS.Kind(), defaultHS.LogTail(30))
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

package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

// gatewayProc is the gateway binary running as a child process.
type gatewayProc struct {
	t    testing.TB
	proc *harness.Process
	url  string
	env  map[string]string
}

// botJSON renders one MATRIX_BOTS entry.
func botJSON(u *harness.User, extra map[string]any) string {
	b := map[string]any{"homeserver": hs.URL(), "access_token": u.AccessToken, "user_id": u.UserID, "device_id": u.DeviceID}
	for k, v := range extra {
		b[k] = v
	}
	out, _ := json.Marshal([]any{b})
	return string(out)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startGateway runs the gateway with env (GATEWAY_LISTEN and GATEWAY_DATABASE default to a free
// port and a file in dir) and waits until /readyz says every bot syncs.
func startGateway(t testing.TB, dir string, env map[string]string) *gatewayProc {
	t.Helper()
	g := launchGateway(t, dir, env)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := g.proc.WaitReady(ctx, harness.ReadyzCheck(g.url)); err != nil {
		t.Fatalf("gateway not ready: %v\n%s", err, g.proc.LogTail(40))
	}
	return g
}

// launchGateway is startGateway without waiting for the bots: it waits only for /healthz.
func launchGateway(t testing.TB, dir string, env map[string]string) *gatewayProc {
	t.Helper()
	full := map[string]string{
		"GATEWAY_LISTEN": freeAddr(t), "GATEWAY_DATABASE": filepath.Join(dir, "gateway.db"),
		"GATEWAY_LOG_LEVEL": "debug", "MATRIX_SYNC_TIMEOUT": "5000", "GATEWAY_SHUTDOWN_TIMEOUT": "20s",
	}
	for k, v := range env {
		full[k] = v
	}
	var environ []string
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}
	environ = append(environ, "PATH="+os.Getenv("PATH"), "HOME="+os.Getenv("HOME"))
	proc, err := harness.StartProcess(harness.ProcessOptions{
		Name: "gateway", Path: gatewayBin, Env: environ, Dir: dir, LogPath: filepath.Join(dir, "gateway.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayProc{t: t, proc: proc, url: "http://" + full["GATEWAY_LISTEN"], env: full}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log (%s):\n%s", proc.LogPath(), proc.LogTail(200))
		}
		_ = proc.Stop()
	})
	waitFor(t, "GET /healthz", func() bool {
		resp, err := http.Get(g.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return g
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gatewayProc) stop() {
	g.t.Helper()
	if err := g.proc.Stop(); err != nil {
		g.t.Fatalf("gateway did not stop cleanly: %v", err)
	}
}

func (g *gatewayProc) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(g.url, "http") + path
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(deadline)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

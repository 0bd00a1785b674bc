package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
)

// Gateway is the gateway binary running as a child process, configured like a deployment: by
// the environment only. The benchmark treats it as a black box.
type Gateway struct {
	URL     string
	Dir     string
	Env     map[string]string // what it was started with (values "" are left out)
	Started time.Time
	proc    *harness.Process
}

// FreeAddr is a free 127.0.0.1:PORT (another process may take it before it is bound).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("failed to find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// StartGateway runs bin with env (plus GATEWAY_LISTEN on a free port unless set, and
// GATEWAY_DATABASE in dir unless set; variables set to "" are left out); its log is dir/gateway.log. It returns at once: see
// WaitReady.
func StartGateway(bin, dir string, env map[string]string) (*Gateway, error) {
	full := map[string]string{"GATEWAY_DATABASE": filepath.Join(dir, "gateway.db"), "GATEWAY_SHUTDOWN_TIMEOUT": "20s"}
	for k, v := range env {
		if v != "" {
			full[k] = v
		}
	}
	if full["GATEWAY_LISTEN"] == "" {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		full["GATEWAY_LISTEN"] = addr
	}
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}
	started := time.Now()
	proc, err := harness.StartProcess(harness.ProcessOptions{
		Name: "gateway", Path: bin, Env: environ, Dir: dir, LogPath: filepath.Join(dir, "gateway.log"),
	})
	if err != nil {
		return nil, err
	}
	return &Gateway{URL: "http://" + full["GATEWAY_LISTEN"], Dir: dir, Env: full, Started: started, proc: proc}, nil
}

// PID is the gateway's process id.
func (g *Gateway) PID() int { return g.proc.PID() }

// LogTail is the end of the gateway's log.
func (g *Gateway) LogTail(n int) string { return g.proc.LogTail(n) }

// Stop ends the gateway (SIGTERM, then SIGKILL after 10 s).
func (g *Gateway) Stop() error { return g.proc.Stop() }

// WaitReady polls /readyz every 10 ms until it answers 200 (every bot syncs) and returns the time
// from the process start to that answer.
func (g *Gateway) WaitReady(ctx context.Context) (time.Duration, error) {
	check := harness.ReadyzCheck(g.URL)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if g.proc.Exited() {
			return 0, fmt.Errorf("the gateway exited; last lines of its log:\n%s", g.proc.LogTail(30))
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return time.Since(g.Started), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("the gateway is not ready (%v): %w; last lines of its log:\n%s", last, ctx.Err(), g.proc.LogTail(30))
		case <-tick.C:
		}
	}
}

// Get fetches path of the gateway with the access token (for pprof profiles and metrics).
func (g *Gateway) Get(ctx context.Context, url, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return http.DefaultClient.Do(req)
}

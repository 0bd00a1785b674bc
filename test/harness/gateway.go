package harness

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
)

// BuildGateway builds the gateway binary (with the goolm tag) into out.
func BuildGateway(ctx context.Context, out string) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "goolm", "-o", out, "./cmd/gateway")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("failed to build the gateway: %w\n%s", err, b)
	}
	return nil
}

// ReadyzCheck is a Process.WaitReady check: GET baseURL/readyz answers 200 (every bot syncs).
func ReadyzCheck(baseURL string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /readyz: HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

package tools

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// EnsureComposeCheck builds test/tools/composecheck (its own module, pinning compose-go, the
// library docker compose loads and validates compose files with) into .cache/tools and returns
// its path: `composecheck FILE` prints the resolved project as JSON or fails with the problems.
// It needs no docker and no daemon.
func EnsureComposeCheck(ctx context.Context) (string, error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	cache, err := harness.CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "tools", "composecheck")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "test", "tools", "composecheck")
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("failed to build test/tools/composecheck: %w\n%s", err, out)
	}
	return bin, nil
}

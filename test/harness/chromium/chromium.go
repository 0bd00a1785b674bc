package chromium

import (
	"github.com/matrix-onebot/gateway/test/harness"

	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// chromiumNames are the executables of Debian's chromium package and of other installs.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// Ensure returns the path of a headless-capable Chromium. When none is installed and
// the tests run as root with apt-get (CI on a clean Debian machine), it installs Debian's
// chromium package (apt-get update first), once: an exclusive lock on
// <repo>/.cache/chromium.lock makes parallel test binaries wait for one installer, and apt's
// output goes to <repo>/.cache/chromium.install.log, whose tail is in the error.
func Ensure(ctx context.Context) (string, error) {
	if p := findChromium(); p != "" {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("no chromium installed and not root: install Debian's chromium package (apt-get install chromium)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("no chromium installed and no apt-get to install it: install Chromium")
	}
	cache, err := harness.CacheDir()
	if err != nil {
		return "", err
	}
	unlock, err := harness.LockFile(ctx, filepath.Join(cache, "chromium.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if p := findChromium(); p != "" { // another test binary installed it meanwhile
		return p, nil
	}
	logPath := filepath.Join(cache, "chromium.install.log")
	for _, args := range [][]string{
		{"update"},
		{"install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", "chromium"},
	} {
		harness.LogStep(logPath, "apt-get "+fmt.Sprint(args))
		out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = out, out
		err = cmd.Run()
		out.Close()
		if err != nil {
			return "", fmt.Errorf("apt-get %v failed: %w\n%s", args, err, harness.FileTail(logPath, 20))
		}
	}
	if p := findChromium(); p != "" {
		return p, nil
	}
	return "", fmt.Errorf("apt-get installed chromium, but no executable was found\n%s", harness.FileTail(logPath, 20))
}

func findChromium() string {
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnsureNodeModules makes sure <repo>/.cache/node-<name> holds the npm packages pinned by the
// package.json and package-lock.json of srcDir (absolute or relative to the repository root),
// installed with `npm ci` from the registry, and returns that directory. The .js and .mjs files
// of srcDir are copied next to node_modules on every call, so run them from the returned
// directory (Node resolves ES module imports from the script's own folder).
//
// Like EnsureVenv, the install runs once: a stamp with the hash of the two files makes later
// calls instant, and a lock file lets parallel test binaries wait for one installer. npm's
// output goes to <repo>/.cache/node-<name>.install.log, whose tail is in the error.
func EnsureNodeModules(ctx context.Context, name, srcDir string) (dir string, err error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(srcDir) {
		root, _ := RepoRoot()
		srcDir = filepath.Join(root, srcDir)
	}
	pkg, err := os.ReadFile(filepath.Join(srcDir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("failed to read package.json: %w", err)
	}
	lock, err := os.ReadFile(filepath.Join(srcDir, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("failed to read package-lock.json (pin the versions with npm install): %w", err)
	}
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	stamp := hex.EncodeToString(sum[:]) + "\n"

	dir = filepath.Join(cache, "node-"+name)
	stampPath := filepath.Join(dir, ".harness-stamp")
	unlock, err := lockFile(ctx, filepath.Join(cache, "node-"+name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	if old, err := os.ReadFile(stampPath); err != nil || string(old) != stamp {
		if err := installNodeModules(ctx, cache, dir, name, pkg, lock); err != nil {
			return "", err
		}
		if err := writeFileAtomic(stampPath, []byte(stamp)); err != nil {
			return "", fmt.Errorf("failed to write the node_modules stamp: %w", err)
		}
	}
	entries, err := os.ReadDir(srcDir)
	if err != nil {
		return "", fmt.Errorf("failed to list %s: %w", srcDir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".mjs") || strings.HasSuffix(e.Name(), ".js")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(srcDir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("failed to read %s: %w", e.Name(), err)
		}
		if err := writeFileAtomic(filepath.Join(dir, e.Name()), data); err != nil {
			return "", fmt.Errorf("failed to copy %s: %w", e.Name(), err)
		}
	}
	return dir, nil
}

func installNodeModules(ctx context.Context, cache, dir, name string, pkg, lock []byte) error {
	logPath := filepath.Join(cache, "node-"+name+".install.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return fmt.Errorf("failed to create install log: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("failed to remove old node_modules %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), lock, 0o644); err != nil {
		return err
	}
	env := childEnv(func(string) bool { return false }, map[string]string{
		"npm_config_cache": filepath.Join(cache, "npm"), "npm_config_update_notifier": "false",
		"npm_config_fund": "false", "npm_config_audit": "false",
	})
	if err := runLogged(ctx, logPath, env, "npm", "ci", "--prefix", dir, "--no-audit", "--no-fund"); err != nil {
		return fmt.Errorf("failed to install the npm packages of %s: %w", name, err)
	}
	return nil
}

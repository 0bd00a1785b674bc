package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NPMEnvVar names the npm executable EnsureNodeModules runs ("" = "npm" on PATH).
const NPMEnvVar = "HARNESS_NPM"

// EnsureNodeModules makes sure <repo>/.cache/node-<name> holds the npm package in
// packageJSONDir (absolute or relative to the repository root) with its dependencies
// installed, and returns that directory: run the package's scripts from there, so that
// `import` finds node_modules.
//
// packageJSONDir must hold package.json and should hold package-lock.json (then `npm ci`
// installs exactly the locked versions). The install runs once: a stamp with the hash of
// both files makes later calls instant, and an exclusive lock on <repo>/.cache/node-<name>.lock
// lets test binaries running in parallel wait for one installer. The other files of
// packageJSONDir (the scripts, not subdirectories) are copied on every call, so edits to them
// need no reinstall. npm's cache is <repo>/.cache/npm; its output goes to
// <repo>/.cache/node-<name>.install.log, whose tail is in the error.
func EnsureNodeModules(ctx context.Context, name, packageJSONDir string) (dir string, err error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(packageJSONDir) {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		packageJSONDir = filepath.Join(root, packageJSONDir)
	}
	pkg, err := os.ReadFile(filepath.Join(packageJSONDir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("failed to read package.json: %w", err)
	}
	lock, err := os.ReadFile(filepath.Join(packageJSONDir, "package-lock.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("failed to read package-lock.json: %w", err)
	}
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	stamp := hex.EncodeToString(sum[:]) + "\n"

	// npm takes a --prefix reached through a symbolic link (a worktree's .cache linked to another
	// checkout's) for a linked package and refuses the lock file ("Missing: node-NAME@"): give
	// it the real path.
	if real, err := filepath.EvalSymlinks(cache); err == nil {
		cache = real
	}
	dir = filepath.Join(cache, "node-"+name)
	stampPath := filepath.Join(dir, ".harness-stamp")
	unlock, err := lockFile(ctx, filepath.Join(cache, "node-"+name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	if old, err := os.ReadFile(stampPath); err == nil && string(old) == stamp {
		if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
			return dir, copyPackageFiles(packageJSONDir, dir)
		}
	}
	logPath := filepath.Join(cache, "node-"+name+".install.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return "", fmt.Errorf("failed to create install log: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("failed to remove old install %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create %s: %w", dir, err)
	}
	if err := copyPackageFiles(packageJSONDir, dir); err != nil {
		return "", err
	}
	npm := os.Getenv(NPMEnvVar)
	if npm == "" {
		npm = "npm"
	}
	args := []string{"ci"}
	if lock == nil {
		args = []string{"install"}
	}
	args = append(args, "--no-audit", "--no-fund", "--prefix", dir)
	env := childEnv(func(key string) bool { return strings.HasPrefix(key, "npm_") }, map[string]string{
		"npm_config_cache": filepath.Join(cache, "npm"), "npm_config_update_notifier": "false",
	})
	logStep(logPath, "npm "+strings.Join(args, " "))
	if err := runLogged(ctx, logPath, env, npm, args...); err != nil {
		return "", fmt.Errorf("failed to install the npm package %s: %w", name, err)
	}
	if err := writeFileAtomic(stampPath, []byte(stamp)); err != nil {
		return "", fmt.Errorf("failed to write install stamp: %w", err)
	}
	return dir, nil
}

// copyPackageFiles copies the regular files of src (not its subdirectories) into dst.
func copyPackageFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("failed to list %s: %w", src, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return fmt.Errorf("failed to copy %s: %w", e.Name(), err)
		}
		if err := writeFileAtomic(filepath.Join(dst, e.Name()), data); err != nil {
			return fmt.Errorf("failed to copy %s: %w", e.Name(), err)
		}
	}
	return nil
}

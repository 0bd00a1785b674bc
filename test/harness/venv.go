package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PythonEnvVar names an environment variable that, when set, is the base
// interpreter used to create virtual environments (default: python3 on PATH).
const PythonEnvVar = "HARNESS_PYTHON"

var (
	repoRootOnce sync.Once
	repoRoot     string
	repoRootErr  error
)

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory (go test runs each package in its own directory).
func RepoRoot() (string, error) {
	repoRootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			repoRootErr = fmt.Errorf("failed to get working directory: %w", err)
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				repoRoot = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				repoRootErr = errors.New("failed to find the repository root: no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return repoRoot, repoRootErr
}

// CacheDir returns <repo>/.cache (git-ignored), creating it if needed.
func CacheDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("failed to create cache directory: %w", err)
	}
	// A worktree's .cache may be a symbolic link to another checkout's: venvs and installs
	// record their absolute path (scripts' #! lines), so they must be made under the real path,
	// or they break when the worktree they were made through is removed.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return dir, nil
}

// EnsureVenv makes sure <repo>/.cache/venv-<name> is a virtual environment with
// the pinned requirements installed, and returns the path of its python.
//
// requirementsFile is absolute or relative to the repository root; a line "# harness: --no-deps"
// in it installs the pinned list as it is, without resolving dependencies. The install
// runs once: a stamp with the hash of the requirements file makes later calls
// instant, and an exclusive lock on <repo>/.cache/venv-<name>.lock lets test
// binaries running in parallel wait for one installer instead of racing.
// Downloaded wheels are kept in <repo>/.cache/wheelhouse (so a rebuilt venv
// installs offline) and pip's cache is <repo>/.cache/pip; pip's output goes to
// <repo>/.cache/venv-<name>.install.log, whose tail is in the error.
func EnsureVenv(ctx context.Context, name string, requirementsFile string) (python string, err error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(requirementsFile) {
		root, _ := RepoRoot()
		requirementsFile = filepath.Join(root, requirementsFile)
	}
	reqs, err := os.ReadFile(requirementsFile)
	if err != nil {
		return "", fmt.Errorf("failed to read requirements file: %w", err)
	}
	basePython := os.Getenv(PythonEnvVar)
	if basePython == "" {
		basePython = "python3"
	}
	sum := sha256.Sum256(reqs)
	stamp := hex.EncodeToString(sum[:]) + "\n" + basePython + "\n"

	venv := filepath.Join(cache, "venv-"+name)
	python = filepath.Join(venv, "bin", "python")
	stampPath := filepath.Join(venv, ".harness-stamp")

	unlock, err := lockFile(ctx, filepath.Join(cache, "venv-"+name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	if old, err := os.ReadFile(stampPath); err == nil && string(old) == stamp {
		if _, err := os.Stat(python); err == nil {
			return python, nil
		}
	}

	logPath := filepath.Join(cache, "venv-"+name+".install.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		return "", fmt.Errorf("failed to create install log: %w", err)
	}
	if err := os.RemoveAll(venv); err != nil {
		return "", fmt.Errorf("failed to remove old virtual environment %s: %w", venv, err)
	}
	env := childEnv(dropPythonEnv, map[string]string{
		"PIP_CACHE_DIR":                 filepath.Join(cache, "pip"),
		"PIP_DISABLE_PIP_VERSION_CHECK": "1",
		"PIP_NO_INPUT":                  "1",
	})
	if err := runLogged(ctx, logPath, env, basePython, "-m", "venv", venv); err != nil {
		return "", fmt.Errorf("failed to create virtual environment %s: %w", name, err)
	}
	// pip's HTTP cache stays empty when the registry forbids caching, so keep
	// the wheels themselves: install offline from the wheelhouse, and
	// download into it only what it lacks.
	wheelhouse := filepath.Join(cache, "wheelhouse")
	pipInstall := []string{"-m", "pip", "install", "--no-input", "--no-index", "--find-links", wheelhouse, "-r", requirementsFile}
	pipDownload := []string{"-m", "pip", "download", "--no-input", "--dest", wheelhouse, "-r", requirementsFile}
	if noDeps(reqs) {
		pipInstall = append(pipInstall, "--no-deps")
		pipDownload = append(pipDownload, "--no-deps", "--only-binary", ":all:")
	}
	logStep(logPath, "install offline from "+wheelhouse)
	if err := runLogged(ctx, logPath, env, python, pipInstall...); err != nil {
		logStep(logPath, "download missing wheels into "+wheelhouse)
		if err := runLogged(ctx, logPath, env, python, pipDownload...); err != nil {
			return "", fmt.Errorf("failed to download requirements of %s: %w", name, err)
		}
		logStep(logPath, "install offline from "+wheelhouse)
		if err := runLogged(ctx, logPath, env, python, pipInstall...); err != nil {
			return "", fmt.Errorf("failed to install requirements of %s: %w", name, err)
		}
	}
	if err := writeFileAtomic(stampPath, []byte(stamp)); err != nil {
		return "", fmt.Errorf("failed to write venv stamp: %w", err)
	}
	return python, nil
}

// noDepsMarker, a line of a requirements file, installs it without resolving dependencies: for
// a complete pin list (a pip freeze) in which a package's declared dependency is replaced by
// another that provides the same module.
const noDepsMarker = "# harness: --no-deps"

func noDeps(reqs []byte) bool {
	for line := range strings.SplitSeq(string(reqs), "\n") {
		if strings.TrimSpace(line) == noDepsMarker {
			return true
		}
	}
	return false
}

// logStep appends a header line to the install log.
func logStep(logPath, step string) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "==== harness: %s\n", step)
}

// lockFile takes an exclusive flock on path, polling so that ctx is honoured.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock file: %w", err)
	}
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("failed to lock %s: %w", path, ctx.Err())
		case <-ticker.C:
		}
	}
}

// writeFileAtomic writes data to a temporary file and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// harnessFile returns the absolute path of a file of this repository.
func harnessFile(rel string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("failed to find %s: %w", rel, err)
	}
	return p, nil
}

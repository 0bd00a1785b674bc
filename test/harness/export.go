package harness

import "context"

// What the harness's subpackages (postgres, image, chromium, zerobot) use of its process and
// cache helpers.

const (
	// StopGracePeriod is how long Stop waits after SIGINT/SIGTERM before it kills a process.
	StopGracePeriod = stopGracePeriod
	// LogTailLines is how many lines of a log a failed test shows.
	LogTailLines = logTailLines
)

// ChildEnv returns this process's environment without the variables drop names (nil: none), with
// extra added.
func ChildEnv(drop func(key string) bool, extra map[string]string) []string {
	return childEnv(drop, extra)
}

// RunLogged runs a command to completion in its own process group, its output appended to
// logPath; the error holds the tail of the log.
func RunLogged(ctx context.Context, logPath string, env []string, name string, args ...string) error {
	return runLogged(ctx, logPath, env, name, args...)
}

// FileTail returns the last n lines of the file at path (reading at most its last 64 KiB).
func FileTail(path string, n int) string { return fileTail(path, n) }

// LockFile takes an exclusive flock on path, waiting for it until ctx ends.
func LockFile(ctx context.Context, path string) (unlock func(), err error) {
	return lockFile(ctx, path)
}

// LogStep appends a header line naming step to the install log at logPath.
func LogStep(logPath, step string) { logStep(logPath, step) }

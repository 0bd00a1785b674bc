package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Defaults shared by every child process of the harness.
const (
	pollInterval    = 100 * time.Millisecond
	stopGracePeriod = 10 * time.Second
	logTailLines    = 40
)

// ProcessOptions describes a child process started by StartProcess.
type ProcessOptions struct {
	// Name is a short human-readable label used in error messages.
	Name string
	// Path is the executable, Args its arguments (without argv[0]).
	Path string
	Args []string
	// Dir is the working directory ("" = current directory).
	Dir string
	// Env is the complete environment of the child (nil = inherit).
	Env []string
	// LogPath receives the child's stdout and stderr (opened in append mode, so
	// a program that also writes its own log to the same file interleaves by line).
	LogPath string
	// SysProcAttr, when set, adjusts how the child is started (e.g. a chroot and a user); the
	// process group and parent-death signal stay.
	SysProcAttr func(*syscall.SysProcAttr)
}

// Process is a child process running in its own process group, with its output
// in a log file. Its lifetime is not bound to the context it was started with:
// call Stop.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File

	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts a child in its own process group (so Stop reaches any
// grandchildren) with stdout and stderr appended to opts.LogPath. On Linux the
// child is also killed if the test binary dies without calling Stop.
func StartProcess(opts ProcessOptions) (*Process, error) {
	if opts.LogPath == "" {
		return nil, fmt.Errorf("failed to start %s: no log path given", opts.Name)
	}
	logFile, err := os.OpenFile(opts.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open log file of %s: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = opts.Env
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = childSysProcAttr()
	if opts.SysProcAttr != nil {
		opts.SysProcAttr(cmd.SysProcAttr)
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("failed to start %s: %w", opts.Name, err)
	}
	p := &Process{
		name:    opts.Name,
		logPath: opts.LogPath,
		cmd:     cmd,
		logFile: logFile,
		done:    make(chan struct{}),
	}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id of the child (also its process group id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogPath returns the path of the log file.
func (p *Process) LogPath() string { return p.logPath }

// Done is closed once the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log returns the whole log file ("" if it cannot be read).
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	return string(b)
}

// LogTail returns the last n lines of the log file.
func (p *Process) LogTail(n int) string { return fileTail(p.logPath, n) }

// exitError describes how the child ended, with the tail of its log.
func (p *Process) exitError() error {
	return fmt.Errorf("%s exited early (%v); last lines of %s:\n%s",
		p.name, p.waitErr, p.logPath, p.LogTail(logTailLines))
}

// WaitReady polls check every poll interval until it returns nil. It fails
// with the tail of the log if the child exits first or ctx ends first.
func (p *Process) WaitReady(ctx context.Context, check func(ctx context.Context) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var lastErr error
	for {
		if p.Exited() {
			return p.exitError()
		}
		lastErr = p.runCheck(ctx, check)
		if lastErr == nil {
			// The port may belong to another process that won a bind race:
			// only trust the answer while our child is still alive.
			if p.Exited() {
				return p.exitError()
			}
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("failed to wait for %s to become ready (last check: %v): %w; last lines of %s:\n%s",
				p.name, lastErr, ctx.Err(), p.logPath, p.LogTail(logTailLines))
		case <-ticker.C:
		}
	}
}

// runCheck runs one readiness check, cut short if the child exits meanwhile
// (a check can hang on a port that another process holds).
func (p *Process) runCheck(ctx context.Context, check func(ctx context.Context) error) error {
	checkCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-checkCtx.Done():
		}
	}()
	return check(checkCtx)
}

// WaitForLog waits until the log file contains substr.
func (p *Process) WaitForLog(ctx context.Context, substr string) error {
	return p.WaitReady(ctx, func(context.Context) error {
		if strings.Contains(p.Log(), substr) {
			return nil
		}
		return fmt.Errorf("%q not in log yet", substr)
	})
}

// Stop sends SIGTERM to the child's process group, waits up to 10 s, then
// sends SIGKILL. It is idempotent and safe to call concurrently; it returns
// nil for a child that already exited by itself.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		pgid := p.cmd.Process.Pid
		if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.stopErr = fmt.Errorf("failed to send SIGTERM to %s: %w", p.name, err)
		}
		select {
		case <-p.done:
			return
		case <-time.After(stopGracePeriod):
		}
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.stopErr = fmt.Errorf("failed to send SIGKILL to %s: %w", p.name, err)
			return
		}
		<-p.done
	})
	return p.stopErr
}

// runLogged runs a command to completion in its own process group, appending
// its output to logPath; it kills the whole group if ctx ends. The error holds
// the tail of the log.
func runLogged(ctx context.Context, logPath string, env []string, name string, args ...string) error {
	p, err := StartProcess(ProcessOptions{Name: name, Path: name, Args: args, Env: env, LogPath: logPath})
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("failed to run %s %s: %w; last lines of %s:\n%s",
			name, strings.Join(args, " "), ctx.Err(), logPath, fileTail(logPath, logTailLines))
	}
	if p.waitErr != nil {
		return fmt.Errorf("failed to run %s %s: %w; last lines of %s:\n%s",
			name, strings.Join(args, " "), p.waitErr, logPath, fileTail(logPath, logTailLines))
	}
	return nil
}

// fileTail returns the last n lines of a file, reading at most its last 64 KiB.
func fileTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const maxRead = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxRead {
		if _, err := f.Seek(-maxRead, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// childEnv returns the current environment without the variables for which
// drop returns true, followed by the extra variables (which win).
func childEnv(drop func(key string) bool, extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if drop(key) {
			continue
		}
		if _, ok := extra[key]; ok {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// dropPythonEnv drops variables that would make a venv's interpreter load
// foreign modules.
func dropPythonEnv(key string) bool {
	switch key {
	case "PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE":
		return true
	}
	return false
}

// PIDHealthCheck is a Process.WaitReady check for the test clients' /harness/healthz route,
// which answers {"pid": N}: it holds once port answers and is served by p itself (not another
// server that took the port first).
func (p *Process) PIDHealthCheck(port int) func(ctx context.Context) error {
	client := &http.Client{Timeout: 5 * time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/harness/healthz", port)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var health struct {
			PID int `json:"pid"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
			return fmt.Errorf("failed to decode health answer: %w", err)
		}
		if health.PID != p.PID() {
			return fmt.Errorf("port %d is served by pid %d, not ours", port, health.PID)
		}
		return nil
	}
}

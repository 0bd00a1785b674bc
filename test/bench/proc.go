// Package bench is the measuring side of `make bench` (test/bench/cmd/bench): CPU and memory of
// child processes read from /proc, arrival times reported over UDP by the observers, percentiles,
// and the table that compares the numbers with the targets of issues 12 and 13. It prints
// numbers; it asserts nothing about speed.
package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in /proc/PID/stat. It is 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK) has no cgo-free reader).
const clockTicks = 100

// CPUTime is the user+system CPU time a process has used so far (/proc/PID/stat utime+stime).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read the CPU time of pid %d: %w", pid, err)
	}
	ticks, err := ParseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ParseStatCPU returns utime+stime (fields 14 and 15, in clock ticks) of a /proc/PID/stat line.
// The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
// the fields are counted from the last ')'.
func ParseStatCPU(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("failed to parse /proc/PID/stat: no ')' after the command name")
	}
	// After ')': field 3 (state) is the first.
	fields := strings.Fields(string(stat[end+1:]))
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("failed to parse /proc/PID/stat: %d fields after the command name, want more than %d", len(fields), stime)
	}
	u, err := strconv.ParseUint(fields[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("failed to parse utime of /proc/PID/stat: %w", err)
	}
	s, err := strconv.ParseUint(fields[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("failed to parse stime of /proc/PID/stat: %w", err)
	}
	return u + s, nil
}

// RSS is the resident set size of a process (VmRSS of /proc/PID/status), in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read the memory of pid %d: %w", pid, err)
	}
	n, err := ParseStatusRSS(b)
	if err != nil {
		return 0, fmt.Errorf("pid %d: %w", pid, err)
	}
	return n, nil
}

// ParseStatusRSS returns VmRSS of a /proc/PID/status file, in bytes.
func ParseStatusRSS(status []byte) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("failed to parse VmRSS %q: want a number of kB", strings.TrimSpace(rest))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 {
			return 0, fmt.Errorf("failed to parse VmRSS %q: want a number of kB", strings.TrimSpace(rest))
		}
		return kb << 10, nil
	}
	return 0, errors.New("failed to parse /proc/PID/status: no VmRSS line (a zombie has none)")
}

// CPUMeter measures the CPU time of several processes over one phase.
type CPUMeter struct {
	pids  map[string]int
	start map[string]time.Duration
	began time.Time
}

// StartCPU records the CPU time used so far by each named process.
func StartCPU(pids map[string]int) (*CPUMeter, error) {
	m := &CPUMeter{pids: pids, start: map[string]time.Duration{}, began: time.Now()}
	for name, pid := range pids {
		t, err := CPUTime(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.start[name] = t
	}
	return m, nil
}

// Stop returns the CPU time each process used since StartCPU, and the wall time that passed.
func (m *CPUMeter) Stop() (map[string]time.Duration, time.Duration, error) {
	wall := time.Since(m.began)
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		t, err := CPUTime(pid)
		if err != nil {
			return nil, wall, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = t - m.start[name]
	}
	return out, wall, nil
}

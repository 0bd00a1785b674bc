package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is what one run of the benchmark prints: the machine, a table per part, and the
// targets with MET / NOT MET. It renders as Markdown, so the README can hold it as printed.
type Report struct {
	Started  time.Time
	Machine  string
	Settings string
	Sections []*Section
	Targets  []Target
	Notes    []string
}

// Section is one table.
type Section struct {
	Title  string
	Header []string
	Rows   [][]string
	Notes  []string
}

// Add appends a row; cells are formatted with %v, floats with 2 decimals.
func (s *Section) Add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case float64:
			row[i] = fmt.Sprintf("%.2f", v)
		default:
			row[i] = fmt.Sprint(v)
		}
	}
	s.Rows = append(s.Rows, row)
}

// Target is one goal of issues 12/13 and what the run measured for it.
type Target struct {
	Name     string
	Goal     string // e.g. "≤ 1 ms"
	Measured string // "" = not measured in this run
	Met      bool
}

// Check adds a target with an upper bound: met when value ≤ limit.
func (r *Report) Check(name, unit string, value, limit float64) {
	r.Targets = append(r.Targets, Target{
		Name: name, Goal: fmt.Sprintf("≤ %g %s", limit, unit),
		Measured: fmt.Sprintf("%.2f %s", value, unit), Met: value <= limit,
	})
}

// CheckAtLeast adds a target with a lower bound: met when value ≥ limit.
func (r *Report) CheckAtLeast(name, unit string, value, limit float64) {
	r.Targets = append(r.Targets, Target{
		Name: name, Goal: fmt.Sprintf("≥ %g %s", limit, unit),
		Measured: fmt.Sprintf("%.0f %s", value, unit), Met: value >= limit,
	})
}

// Missing adds a target this run could not measure, with why.
func (r *Report) Missing(name, goal, why string) {
	r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Measured: "not measured: " + why})
}

// Verdict is MET, NOT MET or "—" (not measured).
func (t Target) Verdict() string {
	switch {
	case strings.HasPrefix(t.Measured, "not measured") || t.Measured == "":
		return "—"
	case t.Met:
		return "MET"
	default:
		return "NOT MET"
	}
}

// Render writes the report as Markdown.
func (r *Report) Render(w io.Writer) {
	fmt.Fprintf(w, "Run %s UTC. Machine: %s.\n", r.Started.UTC().Format("2006-01-02 15:04"), r.Machine)
	if r.Settings != "" {
		fmt.Fprintf(w, "Settings: %s.\n", r.Settings)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "%s\n", n)
	}
	for _, s := range r.Sections {
		fmt.Fprintf(w, "\n**%s**\n\n", s.Title)
		writeTable(w, s.Header, s.Rows)
		for _, n := range s.Notes {
			fmt.Fprintf(w, "\n%s\n", n)
		}
	}
	fmt.Fprintf(w, "\n**Targets (issues 12 and 13)**\n\n")
	rows := make([][]string, 0, len(r.Targets))
	for _, t := range r.Targets {
		rows = append(rows, []string{t.Name, t.Goal, t.Measured, t.Verdict()})
	}
	writeTable(w, []string{"target", "goal", "measured", "verdict"}, rows)
}

func writeTable(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, row := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
}

// Machine describes this machine: cores, CPU model, memory, and the load when the run began
// (other work on it slows every number down).
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "unknown memory"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(rest, &kb); err == nil {
					mem = fmt.Sprintf("%.1f GiB RAM", float64(kb)/(1<<20))
				}
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = fmt.Sprintf(", load average %s %s %s at the start", f[0], f[1], f[2])
		}
	}
	return fmt.Sprintf("%d cores (nproc), %s, %s, %s/%s, %s%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/matrix-onebot/gateway/test/bench"
	"github.com/matrix-onebot/gateway/test/harness"
)

// benchRun is one run of the benchmark.
type benchRun struct {
	o      *options
	root   string // the repository
	work   string // logs and databases of this run
	bin    string // the gateway binary
	self   string // this program, for the observer subcommands
	col    *bench.Collector
	report *bench.Report
	nonce  string
}

func runBench(ctx context.Context, args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	r := &benchRun{o: o, nonce: fmt.Sprintf("%x", time.Now().UnixNano()%0xffffff)}
	if r.root, err = harness.RepoRoot(); err != nil {
		return err
	}
	if r.self, err = os.Executable(); err != nil {
		return fmt.Errorf("failed to find this program: %w", err)
	}
	if r.work, err = os.MkdirTemp("", "gateway-bench-"); err != nil {
		return err
	}
	if o.keep {
		defer fmt.Fprintf(os.Stderr, "bench: logs and databases kept in %s\n", r.work)
	} else {
		defer os.RemoveAll(r.work)
	}
	r.report = &bench.Report{Started: time.Now(), Machine: bench.Machine()}
	r.report.Settings = fmt.Sprintf("%d messages at %g/s (up to %d repetitions for the wake order); echo at %v commands/s for %gs each; %d sends each way; "+
		"bots on Synapse %v; stand-in: %d messages per step in /sync batches of %d, fan-out %v, idle bots %v over %gs; "+
		"failover: %d gateways, %d bots, %g messages/s to each",
		o.messages, o.rate, o.orderReps, o.echoRates, o.echoSeconds, o.sends, o.bots, o.replayMsgs, o.replayBatch, o.fanout, o.idleBots, o.idleSeconds,
		o.failoverInstances, o.failoverBots, o.failoverRate)

	progress("building the gateway")
	r.bin = filepath.Join(r.work, "gateway")
	if err := harness.BuildGateway(ctx, r.bin); err != nil {
		return err
	}
	if r.col, err = bench.NewCollector(); err != nil {
		return err
	}
	defer r.col.Close()

	var errs []error
	if o.parts["relay"] || o.parts["echo"] || o.parts["send"] || o.parts["bots"] {
		if err := r.onSynapse(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if (o.parts["replay"] || o.parts["idle"]) && ctx.Err() == nil {
		if err := r.onStandIn(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if o.parts["failover"] && ctx.Err() == nil {
		if err := r.failoverPart(ctx); err != nil {
			errs = append(errs, fmt.Errorf("failover: %w", err))
		}
	}
	for _, err := range errs {
		r.report.Notes = append(r.report.Notes, "ERROR: "+oneLine(err))
	}
	r.print()
	return errors.Join(errs...)
}

// print writes the report to stdout and to -out.
func (r *benchRun) print() {
	w := io.Writer(os.Stdout)
	if r.o.out != "" {
		if err := os.MkdirAll(filepath.Dir(r.o.out), 0o755); err == nil {
			if f, err := os.Create(r.o.out); err == nil {
				defer f.Close()
				w = io.MultiWriter(os.Stdout, f)
			}
		}
	}
	fmt.Fprintln(os.Stdout)
	r.report.Render(w)
}

// progress tells what the benchmark is doing (on stderr, so stdout is only the table).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// startObserver runs this program's observe-sync or observe-ws subcommand.
func (r *benchRun) startObserver(name, sub string, env map[string]string) (*harness.Process, error) {
	environ := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "BENCH_REPORT_ADDR=" + r.col.Addr()}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	return harness.StartProcess(harness.ProcessOptions{
		Name: name, Path: r.self, Args: []string{sub}, Env: environ, LogPath: filepath.Join(r.work, name+".log"),
	})
}

// waitReports waits until every observer reported every key, or limit passes; the error says
// how many are missing where.
func (r *benchRun) waitReports(ctx context.Context, limit time.Duration, observers, keys []string) error {
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	missing := r.col.WaitAll(wctx, observers, keys)
	var parts []string
	for _, o := range observers {
		if n := missing[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d of %d", o, n, len(keys)))
		}
	}
	if len(parts) > 0 {
		return fmt.Errorf("not arrived within %v: %s", limit, strings.Join(parts, ", "))
	}
	return nil
}

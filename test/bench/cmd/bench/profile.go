package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/matrix-onebot/gateway/test/bench"
)

// profileSeconds is how long the CPU profile of one load runs.
const profileSeconds = 10

// pprofAddr is a loopback address for the gateway's GATEWAY_PPROF when -profile is set, else ""
// (profiling off, as in production).
func (r *benchRun) pprofAddr() string {
	if r.o.profileDir == "" {
		return ""
	}
	addr, err := bench.FreeAddr()
	if err != nil {
		return ""
	}
	return addr
}

// profile takes a CPU profile of the gateway while load runs, then its allocation profile, and
// writes them to -profile as NAME-cpu.pprof and NAME-allocs.pprof (`go tool pprof FILE`).
func (r *benchRun) profile(ctx context.Context, g *bench.Gateway, name string, load func(context.Context) error) error {
	addr := g.Env["GATEWAY_PPROF"]
	if addr == "" {
		return errors.New("the gateway was started without GATEWAY_PPROF")
	}
	if err := os.MkdirAll(r.o.profileDir, 0o755); err != nil {
		return err
	}
	progress("profiling the gateway (%s) for %ds", name, profileSeconds)
	cpuErr := make(chan error, 1)
	go func() {
		cpuErr <- fetch(ctx, g, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, profileSeconds), filepath.Join(r.o.profileDir, name+"-cpu.pprof"))
	}()
	loadErr := load(ctx)
	if err := <-cpuErr; err != nil {
		return err
	}
	if loadErr != nil {
		return loadErr
	}
	if err := fetch(ctx, g, "http://"+addr+"/debug/pprof/allocs", filepath.Join(r.o.profileDir, name+"-allocs.pprof")); err != nil {
		return err
	}
	r.report.Notes = append(r.report.Notes, fmt.Sprintf("Profiles of the gateway (%s): %s-cpu.pprof and %s-allocs.pprof in %s.", name, name, name, r.o.profileDir))
	return nil
}

func fetch(ctx context.Context, g *bench.Gateway, url, path string) error {
	resp, err := g.Get(ctx, url, "")
	if err != nil {
		return fmt.Errorf("failed to fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("failed to fetch %s: HTTP %d %s", url, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

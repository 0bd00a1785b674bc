package main

import (
	"context"
	"fmt"
	"os"

	"github.com/matrix-onebot/gateway/test/bench"
)

// The observers run as child processes of the benchmark (so that their CPU is their own) and
// are configured by the environment, which keeps access tokens out of the process list.

// runObserveSync is the plain /sync client: BENCH_HS, BENCH_USER, BENCH_TOKEN, BENCH_NAME
// (default "sync"), BENCH_REPORT_ADDR.
func runObserveSync(ctx context.Context) error {
	name := os.Getenv("BENCH_NAME")
	if name == "" {
		name = "sync"
	}
	rep, err := reporter(name)
	if err != nil {
		return err
	}
	return bench.ObserveSync(ctx, os.Getenv("BENCH_HS"), os.Getenv("BENCH_USER"), os.Getenv("BENCH_TOKEN"), rep)
}

// runObserveWS is the OneBot v12 WebSocket client: BENCH_GATEWAY (http://host:port),
// BENCH_TOKEN, BENCH_NAME, BENCH_ECHO=1 to answer /wsecho, BENCH_REPORT_ADDR.
func runObserveWS(ctx context.Context) error {
	name := os.Getenv("BENCH_NAME")
	if name == "" {
		name = "ws"
	}
	rep, err := reporter(name)
	if err != nil {
		return err
	}
	return bench.ObserveV12(ctx, os.Getenv("BENCH_GATEWAY"), os.Getenv("BENCH_TOKEN"), name, os.Getenv("BENCH_ECHO") == "1", rep)
}

func reporter(name string) (*bench.Reporter, error) {
	addr := os.Getenv("BENCH_REPORT_ADDR")
	if addr == "" {
		return nil, fmt.Errorf("BENCH_REPORT_ADDR is not set: the observers are started by the benchmark")
	}
	return bench.NewReporter(addr, name)
}

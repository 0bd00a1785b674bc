// Command gateway logs bot accounts into Matrix homeservers and serves each bot as OneBot v11
// and v12 endpoints over HTTP and WebSocket.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP loads the configuration again (GATEWAY_ENV_FILE, MATRIX_BOTS_FILE) and applies its
	// bot list; signals that come while a reload runs make one more.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	os.Exit(runWith(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr, reload))
}

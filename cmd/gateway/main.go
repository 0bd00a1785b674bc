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
	os.Exit(run(ctx, os.Args, os.Environ(), os.Stdout, os.Stderr))
}

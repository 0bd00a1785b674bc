package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"github.com/matrix-onebot/gateway/internal/cluster"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// startCluster joins the gateways that share the bots of db (GATEWAY_CLUSTER): the coordinator
// runs until ctx ends (then it gives the bots up and closes done). It returns this gateway's
// instance ID.
func startCluster(ctx context.Context, cfg *config.Config, db *storage.DB, bots *botSet, log *slog.Logger, done chan struct{}) (string, error) {
	host, _ := os.Hostname()
	random := make([]byte, 6)
	_, _ = rand.Read(random)
	instance := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(random))
	coord, err := cluster.New(cluster.Options{
		DB: db, Instance: instance, URL: cfg.Gateway.ClusterURL, Logger: log,
		Bots: bots.configuredUsers, Run: bots.setOwned, Settled: bots.syncing,
	})
	if err != nil {
		return "", err
	}
	go func() {
		defer close(done)
		coord.Run(ctx)
	}()
	return instance, nil
}

package main

import (
	"context"
	"net/http"

	"maunium.net/go/mautrix/id"

	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/matrix-onebot/gateway/internal/gateway"
	"log/slog"
	"os"

	"github.com/matrix-onebot/gateway/internal/cluster"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// newCoordinator prepares this gateway's part among the gateways that share the bots of db
// (GATEWAY_CLUSTER); its Run starts it.
func newCoordinator(cfg *config.Config, db *storage.DB, bots *botSet, log *slog.Logger) (*cluster.Coordinator, string, error) {
	host, _ := os.Hostname()
	random := make([]byte, 6)
	_, _ = rand.Read(random)
	instance := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(random))
	coord, err := cluster.New(cluster.Options{
		DB: db, Instance: instance, URL: cfg.Gateway.ClusterURL, Logger: log,
		Bots: bots.configuredUsers, Run: bots.setOwned, Settled: bots.syncing,
	})
	return coord, instance, err
}

// elsewhere returns the bots the gateways of the cluster run (those this one runs too: the hub
// leaves them out), nil without a cluster or when the database does not answer — then it says
// so in the log, since get_status's matrix.elsewhere is left out and reads like "none".
func elsewhere(ctx context.Context, coord *cluster.Coordinator, log *slog.Logger) []string {
	if coord == nil {
		return nil
	}
	owners, err := coord.Owners(ctx)
	if err != nil {
		log.Warn("get_status: could not read which bots the other gateways run, so matrix.elsewhere is left out; check the PostgreSQL connection (GATEWAY_DATABASE)", "error", err)
		return nil
	}
	out := make([]string, 0, len(owners))
	for bot := range owners {
		out = append(out, bot)
	}
	return out
}

// clusterProxy sends OneBot requests for bots that another gateway runs to that gateway.
func clusterProxy(next http.Handler, coord *cluster.Coordinator, hub *gateway.Hub, bots *botSet, db *storage.DB, maxBody int64, log *slog.Logger) http.Handler {
	p := &cluster.Proxy{
		Local:  func(bot string) bool { return hub.HasBot(id.UserID(bot)) },
		Owners: coord.Owners,
		V11ID: func(ctx context.Context, bot string) (int64, error) {
			return db.IDs().V11ID(ctx, storage.KindUser, bot)
		},
		TokenBot: bots.tokenBot,
		Body:     gateway.BodyReader(hub), MaxBody: maxBody, Log: log,
	}
	return p.Wrap(next)
}

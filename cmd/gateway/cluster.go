package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/cluster"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/gateway"
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
		Bots: bots.configuredUsers, Run: bots.setOwned, Settled: bots.syncing, Metrics: bots.mets.Fleet(),
	})
	return coord, instance, err
}

// elsewhere returns the bots the gateways of the cluster run (those this one runs too: the hub
// leaves them out), from the proxy's map of owners (read at most once per refresh, never per
// get_status); nil without a cluster, or before the first map (then matrix.elsewhere is left out).
func elsewhere(p *cluster.Proxy) []string {
	if p == nil {
		return nil
	}
	bots, _ := p.Elsewhere()
	return bots
}

// newClusterProxy returns what sends OneBot requests for bots that another gateway runs to that
// gateway, with its first map of owners read. The requests it sends on carry a mark made with the
// key the gateways share (cluster.ProxyKey), and the hub's limiter of wrong tokens trusts that
// mark on the requests the others send here: their clients are limited one by one, by address.
func newClusterProxy(ctx context.Context, coord *cluster.Coordinator, hub *gateway.Hub, bots *botSet, db *storage.DB, maxBody int64, log *slog.Logger) (*cluster.Proxy, error) {
	key, err := cluster.ProxyKey(ctx, db)
	if err != nil {
		return nil, err
	}
	hub.AuthLimiter().TrustProxies(key)
	p := &cluster.Proxy{
		Key:    key,
		Local:  func(bot string) bool { return hub.HasBot(id.UserID(bot)) },
		Owners: coord.Owners,
		V11ID: func(ctx context.Context, bot string) (int64, error) {
			return db.IDs().V11ID(ctx, storage.KindUser, bot)
		},
		TokenBot: bots.tokenBot,
		Body:     gateway.BodyReader(hub), MaxBody: maxBody, Log: log,
	}
	p.Prime(ctx)
	return p, nil
}

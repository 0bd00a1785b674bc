package main

import (
	"slices"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/gateway"
)

// sharedEndpoints are the pushing endpoints that carry every bot (OneBot v12): the hub runs them
// from the start.
func sharedEndpoints(cfg *config.Config) []gateway.Endpoint {
	g := cfg.Gateway
	var eps []gateway.Endpoint
	for _, u := range g.V12ReverseWS {
		eps = append(eps, gateway.ReverseWS{URL: u, Version: 12, AccessToken: g.PushAccessToken, Outbox: outboxFor(cfg, u)})
	}
	for _, u := range g.V12Webhook {
		eps = append(eps, gateway.Webhook{URL: u, Version: 12, Outbox: outboxFor(cfg, u)})
	}
	return eps
}

// botEndpoints are the pushing endpoints of one bot, once it has joined the hub with its
// self_id: the v11 reverse WebSockets (every role) and HTTP POST, and its own v12 reverse
// WebSockets.
func botEndpoints(cfg *config.Config, b config.Bot, user id.UserID, selfID int64) []gateway.Endpoint {
	g := cfg.Gateway
	push := b.PushToken(g.PushAccessToken)
	var eps []gateway.Endpoint
	for _, r := range []struct {
		urls []string
		role string
	}{
		{append(append([]string(nil), g.V11ReverseWS...), b.OneBotV11ReverseWS...), gateway.RoleUniversal},
		{g.V11ReverseWSAPI, gateway.RoleAPI},
		{g.V11ReverseWSEvent, gateway.RoleEvent},
	} {
		for _, u := range r.urls {
			eps = append(eps, gateway.ReverseWS{URL: u, Version: 11, SelfID: selfID, AccessToken: push, Role: r.role, Outbox: outboxFor(cfg, u)})
		}
	}
	for _, u := range g.V11HTTPPost {
		eps = append(eps, gateway.Webhook{URL: u, Version: 11, SelfID: selfID, Outbox: outboxFor(cfg, u)})
	}
	for _, u := range b.OneBotV12ReverseWS {
		eps = append(eps, gateway.ReverseWS{URL: u, Version: 12, Bot: user, AccessToken: push, Outbox: outboxFor(cfg, u)})
	}
	return eps
}

// outboxFor tells whether an endpoint keeps its events in the outbox (GATEWAY_OUTBOX_EXCLUDE).
func outboxFor(cfg *config.Config, url string) bool {
	return !slices.Contains(cfg.Gateway.OutboxExclude, url)
}

// Package core holds what the hub shares with its parts in subpackages (the pushing endpoints,
// the action runner): a bot's entry in the hub and the counters of what slow or broken clients
// cost. It imports no other part of the gateway, so every part can import it.
package core

import (
	"sync/atomic"

	"github.com/matrix-onebot/gateway/internal/model"
)

// Entry is one bot in the hub.
type Entry struct {
	Bot     model.Bot
	SelfID  int64       // OneBot v11 self_id
	Token   string      // onebot_access_token: grants this bot only; "" = none
	Offline atomic.Bool // last status was offline: v11 clients were sent lifecycle disable
	// LastYield is when (Unix ns) Publish last let the writers it woke for this bot's event run
	// (the hub's yieldToWriters); 0 = never.
	LastYield atomic.Int64
	// LastFeedYield is the same for the deliverers of outboxes that Publish handed the bot's
	// event over to (push.AppendAll).
	LastFeedYield atomic.Int64
}

// Stats counts what a slow or broken client cost.
type Stats struct {
	EventsDropped    atomic.Int64 // events not queued because a connection's queue was full
	EventsUnwanted   atomic.Int64 // events no connection received (DropWithoutClient)
	SlowDisconnects  atomic.Int64 // connections closed because they could not keep up
	ConnectionsTotal atomic.Int64
	OutboxDropped    atomic.Int64 // outbox frames dropped by the count or age limit
	OutboxReplayed   atomic.Int64 // frames delivered from a backlog, marked as replayed
	PushFailures     atomic.Int64 // webhook / HTTP POST requests that failed
	PushRefused      atomic.Int64 // events a webhook / HTTP POST endpoint answered with an error status (delivered)
	PushAbandoned    atomic.Int64 // events given up after the endpoint took them and never answered
	BrowserRefused   atomic.Int64 // requests refused by the cross-site guard
	TooLarge         atomic.Int64 // requests over their size limit
	Busy             atomic.Int64 // requests refused because too many bytes were in flight
}

package gateway

import (
	"slices"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/gateway/push"
	"github.com/matrix-onebot/gateway/internal/model"
)

// RemoveBot takes b out of the hub (or out of the bots it expects, when b has not joined yet):
// requests naming it are answered as for an unknown bot, its OneBot WebSockets close with 1001
// and the reason "bot removed: " + why, and v12 connections of every bot get a status_update
// without it. Its reverse WebSockets and webhooks are ended by their own contexts (the caller
// runs them). A later AddBot of the same user (a restarted bot) is not affected: only the entry
// of b itself is removed.
func (h *Hub) RemoveBot(b model.Bot, why string) {
	u := b.UserID()
	h.botsMu.Lock()
	h.expected = slices.DeleteFunc(h.expected, func(x model.Bot) bool { return x == b })
	e := h.byUser[u]
	if e != nil && e.Bot == b {
		delete(h.byUser, u)
		if h.bySelf[e.SelfID] == e {
			delete(h.bySelf, e.SelfID)
		}
		h.bots = slices.DeleteFunc(h.bots, func(x *botEntry) bool { return x == e })
		if e.Token != "" {
			h.tokenBots.Add(-1)
		}
	} else {
		e = nil
	}
	h.botsMu.Unlock()
	if e == nil {
		return
	}
	h.push.ForgetBot(u)

	reason := push.WhyBotRemoved
	if why != "" {
		reason += ": " + why
	}
	h.sinksMu.RLock()
	for s := range h.sinks {
		if s.Bot == u && s.Durable() == nil {
			s.Close(reason)
		}
	}
	h.sinksMu.RUnlock()
	h.log.Info("bot removed from the hub", "bot", u, "reason", why)
	// Connections of every bot learn the list without it (v12 status_update).
	h.BotStatusChanged(u, model.BotStatus{State: model.StateStopped, Reason: reason})
}

// HasBot reports whether the hub serves the bot with user ID u.
func (h *Hub) HasBot(u id.UserID) bool { return h.reg.botByUser(u) != nil }

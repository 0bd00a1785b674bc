package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/backoff"
)

// ReverseWS is one configured reverse-WebSocket endpoint: the gateway dials it and keeps exactly
// one live connection, reconnecting after any close with backoff and jitter.
type ReverseWS struct {
	URL         string
	Version     int       // 11 or 12
	SelfID      int64     // v11: the bot this connection is for
	Bot         id.UserID // v12: carry only this bot ("" = all bots)
	AccessToken string    // sent as Authorization: Bearer
	Role        role      // v11 only; Universal by default
}

const (
	maxReconnectBackoff = 60 * time.Second
	stableConnection    = 30 * time.Second // a connection that lived this long resets the backoff
)

// RunReverseWS keeps the endpoint connected until ctx ends.
func (h *Hub) RunReverseWS(ctx context.Context, ep ReverseWS, initialBackoff time.Duration) {
	if initialBackoff <= 0 {
		initialBackoff = time.Second
	}
	if ep.Role == "" {
		ep.Role = roleUniversal
	}
	log := h.log.With("url", ep.URL, "version", ep.Version)
	retry := backoff.New(initialBackoff, maxReconnectBackoff)
	for ctx.Err() == nil {
		spec := connSpec{version: ep.Version, role: ep.Role, peer: ep.URL}
		switch {
		case ep.Version == 11:
			spec.bot = h.botBySelfID(ep.SelfID)
		case ep.Bot != "":
			spec.bot = h.botByUser(ep.Bot)
		}
		if spec.bot == nil && (ep.Version == 11 || ep.Bot != "") {
			log.Error("reverse WebSocket for an unknown bot", "self_id", ep.SelfID, "bot", ep.Bot)
			return
		}
		started := time.Now()
		c, err := h.dialReverse(ctx, ep)
		if err == nil {
			err = h.serveConn(ctx, c, spec)
			if time.Since(started) > stableConnection {
				retry.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		wait := retry.Next()
		log.Warn("reverse WebSocket disconnected; reconnecting", "error", errString(err, "closed by peer"), "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (h *Hub) dialReverse(ctx context.Context, ep ReverseWS) (*websocket.Conn, error) {
	hdr := http.Header{}
	hdr.Set("User-Agent", Impl+"/"+h.opts.Version)
	if ep.AccessToken != "" {
		hdr.Set("Authorization", "Bearer "+ep.AccessToken)
	}
	opts := &websocket.DialOptions{HTTPHeader: hdr}
	if ep.Version == 12 {
		opts.Subprotocols = []string{"12." + Impl}
	} else {
		hdr.Set("X-Self-ID", strconv.FormatInt(ep.SelfID, 10))
		hdr.Set("X-Client-Role", string(ep.Role))
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(dctx, ep.URL, opts)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return c, err
}

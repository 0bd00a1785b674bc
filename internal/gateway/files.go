package gateway

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
)

// The /media links of the gateway's files, and the client an action's upload quotas count
// against. The v12 file actions are ob12's (internal/onebot/v12/files.go), served with the
// media intake (actionHost.Media).

// handleMedia serves GET /media/{fileID}?exp=…&sig=… (intake.Media.ServeFile).
func (wf webFront) handleMedia(w http.ResponseWriter, r *http.Request) {
	wf.h.opts.Media.ServeFile(w, r, chi.URLParam(r, "fileID"), wf.h.log)
}

// clientKey names the caller of an action for per-client quotas: one WebSocket connection, or
// an HTTP client's address (all HTTP clients present the one access token).
type clientKey struct{}

// httpClient names an HTTP client: its address (without the port) and the bot its token is
// for, if any. A proxy in front of the gateway makes all its clients one.
func httpClient(r *http.Request) string {
	var bot id.UserID
	if g := grantOf(r.Context()); g.bot != nil {
		bot = g.bot.Bot.UserID()
	}
	return face.ClientKey(r.RemoteAddr, bot)
}

func withClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

func clientOf(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	return s
}

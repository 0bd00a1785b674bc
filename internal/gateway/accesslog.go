package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// accessLog logs every request once it is answered (a WebSocket once it has closed): method,
// path, status, duration and bytes written, at Options.AccessLogLevel. The path is logged
// without its query, which carries access_token and media signatures; the peer address is
// there to tell clients apart. Health probes (/healthz, /readyz) are not logged: a container's
// HEALTHCHECK or a readiness probe would fill the log with them and push out what matters.
func (wf webFront) accessLog(next http.Handler) http.Handler {
	if wf.h.opts.AccessLogOff {
		return next
	}
	level := wf.h.opts.AccessLogLevel
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !wf.h.log.Enabled(r.Context(), level) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK // nothing written
			if isUpgrade(r) {
				status = http.StatusSwitchingProtocols // hijacked
			}
		}
		wf.h.log.LogAttrs(context.WithoutCancel(r.Context()), level, "HTTP request",
			slog.String("method", r.Method), slog.String("path", logPath(r)), slog.Int("status", status),
			slog.Duration("duration", time.Since(start)), slog.Int("bytes", ww.BytesWritten()),
			slog.String("peer", r.RemoteAddr))
	})
}

// logPath is the request's path as sent, without the query, cut to a sane length.
func logPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	return truncate(p, 256)
}

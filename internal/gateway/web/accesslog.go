package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

// AccessLog logs every request once it is answered (a WebSocket once it has closed): method,
// path, status, duration and bytes written, at level; off = no access log. The path is logged
// without its query, which carries access_token and media signatures; the peer address is
// there to tell clients apart. Health probes (/healthz, /readyz) are not logged: a container's
// HEALTHCHECK or a readiness probe would fill the log with them and push out what matters.
func AccessLog(log *slog.Logger, level slog.Level, off bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if off {
			return next
		}
		return accessLog(log, level, next)
	}
}

func accessLog(log *slog.Logger, level slog.Level, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Enabled(r.Context(), level) || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK // nothing written
			if IsUpgrade(r) {
				status = http.StatusSwitchingProtocols // hijacked
			}
		}
		log.LogAttrs(context.WithoutCancel(r.Context()), level, "HTTP request",
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

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"
	"time"
)

// startPprof serves Go's profiler at /debug/pprof/ on addr (GATEWAY_PPROF, a loopback address
// the configuration checked), on a listener and mux of its own: nothing else is served there,
// and the OneBot listener never serves the profiles. It returns the bound address and a stop
// function.
func startPprof(addr string, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("failed to listen for the profiler: %w", err)
	}
	// A host name (localhost) may resolve to another address than the configuration expects.
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().Unmap().IsLoopback() {
		_ = ln.Close()
		return "", nil, fmt.Errorf("the profiler's address %s is not a loopback address (GATEWAY_PPROF=%s)", ln.Addr(), addr)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: allocs, heap, goroutine, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile answers after its ?seconds=.
	srv := &http.Server{Handler: loopbackOnly(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("the profiler stopped serving", "error", err)
		}
	}()
	bound := ln.Addr().String()
	log.Info("serving Go profiles (GATEWAY_PPROF)", "listen", bound, "path", "/debug/pprof/")
	return bound, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
	}, nil
}

// loopbackOnly refuses requests that a browser page could make: a Host that is not a loopback
// name (a page whose DNS name was rebound to 127.0.0.1), an Origin or a Sec-Fetch-Site other
// than none (a page of any site; none is the operator typing the URL).
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
		loopback := strings.EqualFold(host, "localhost") || (err == nil && ip.Unmap().IsLoopback())
		site := r.Header.Get("Sec-Fetch-Site")
		if !loopback || r.Header.Get("Origin") != "" || (site != "" && site != "none") {
			http.Error(w, "the profiler answers only requests to a loopback address that no web page made", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

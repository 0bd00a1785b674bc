package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/gateway"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/redact"
)

// healthcheckTimeout bounds the whole request: a container runtime kills a check that hangs.
const healthcheckTimeout = 5 * time.Second

// healthcheck asks the running gateway's /readyz and exits 0 when every bot is syncing, 1 when
// not (or when the gateway cannot be reached). It is the container image's HEALTHCHECK: the image
// has no shell and no curl. The address is GATEWAY_LISTEN (0.0.0.0 or :: asked on loopback), or
// the base URL given as the argument. It reads nothing else of the configuration, so a check
// never fails for a reason the gateway itself would not.
func healthcheck(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprintf(stderr, "gateway healthcheck takes at most one argument, the gateway's base URL\n\n%s", commandUsage("healthcheck"))
		return exitConfig
	}
	target, err := readyzURL(args, environ)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(ctx, healthcheckTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return exitConfig
	}
	// What is printed goes to Docker's health log: the URL without its password or query.
	shown := redact.URL(target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL
		}
		fmt.Fprintf(stderr, "unhealthy: %s cannot be reached (%v); is the gateway running and listening on GATEWAY_LISTEN?\n", shown, err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		fmt.Fprintf(stdout, "ready: %s\n", shown)
		return exitOK
	}
	fmt.Fprintf(stderr, "unhealthy: %s answered %s%s\n", shown, resp.Status, readyReason(body))
	return exitFailure
}

// readyzURL is the /readyz URL to ask: from the argument, else from GATEWAY_LISTEN.
func readyzURL(args, environ []string) (string, error) {
	if len(args) == 1 {
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("%q is not a base URL; give one such as http://127.0.0.1:5700", args[0])
		}
		return strings.TrimRight(u.String(), "/") + "/readyz", nil
	}
	listen, set := config.DefaultListen, false
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GATEWAY_LISTEN="); ok {
			listen, set = strings.TrimSpace(v), true
		}
	}
	if set && listen == "" {
		return "", fmt.Errorf("GATEWAY_LISTEN is empty, so the gateway serves no HTTP and has no /readyz to ask; set GATEWAY_LISTEN, or give the base URL as the argument")
	}
	host, port, err := net.SplitHostPort(listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("GATEWAY_LISTEN %q is not host:port; set it such as 0.0.0.0:5700, or give the base URL as the argument", listen)
	}
	// A wildcard listener is asked on loopback, from inside the container or host.
	switch ip := net.ParseIP(host); {
	case host == "":
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified() && ip.To4() != nil:
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	target := "http://" + net.JoinHostPort(host, port) + "/readyz"
	if _, err := url.Parse(target); err != nil {
		return "", fmt.Errorf("GATEWAY_LISTEN %q is not host:port; set it such as 0.0.0.0:5700, or give the base URL as the argument", listen)
	}
	return target, nil
}

// readyReason is what /readyz says of the bots that are not ready, shortened for a log line.
func readyReason(body []byte) string {
	var rep gateway.ReadyReport
	if json.Unmarshal(body, &rep) != nil {
		return ""
	}
	var parts []string
	for _, b := range rep.Bots {
		if b.State == string(model.StateSyncing) {
			continue
		}
		p := b.UserID + " " + b.State
		if b.Reason != "" {
			p += " (" + b.Reason + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

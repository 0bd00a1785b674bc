package fakes

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FakeFleetHomeserver is a thin stand-in for a homeserver with many bot accounts, for tests of
// how many bots one gateway starts at once; it is not a homeserver (end-to-end tests run against
// Synapse). Account i is @fleet{i}:fleet.fake with access token fleet-token-{i}.
//
// Served: GET /versions, GET /account/whoami, GET /sync (empty batches; an initial sync — one
// without since — is held for InitialSyncHold, a later one until its timeout or IdleWait),
// GET /user/{id}/account_data/{type} (404 M_NOT_FOUND), GET /profile/{id}/displayname. Anything
// else is 404 M_UNRECOGNIZED. It counts initial syncs in flight and the most there ever were.
type FakeFleetHomeserver struct {
	Server *httptest.Server
	URL    string

	// InitialSyncHold is how long an initial /sync is held before it is answered, so that starts
	// that are not spread overlap. Default 20 ms.
	InitialSyncHold time.Duration
	// IdleWait caps how long a later /sync long-polls. Default 1 s.
	IdleWait time.Duration

	n int

	mu              sync.Mutex
	initialInFlight int
	maxInitial      int
	initialSyncs    map[string]int // per user
	whoamis         map[string]int // per user: one per login of a bot session
	syncs           int
}

// FleetUser and FleetToken name account i of a FakeFleetHomeserver.
func FleetUser(i int) string  { return fmt.Sprintf("@fleet%d:fleet.fake", i) }
func FleetToken(i int) string { return fmt.Sprintf("fleet-token-%d", i) }

// NewFakeFleetHomeserver starts a fake homeserver with n accounts; it is closed when the test ends.
func NewFakeFleetHomeserver(t testing.TB, n int) *FakeFleetHomeserver {
	t.Helper()
	h := &FakeFleetHomeserver{InitialSyncHold: 20 * time.Millisecond, IdleWait: time.Second, n: n, initialSyncs: map[string]int{}, whoamis: map[string]int{}}
	mux := http.NewServeMux()
	const p = "/_matrix/client/v3"
	mux.HandleFunc("GET /_matrix/client/versions", func(w http.ResponseWriter, _ *http.Request) {
		writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"versions": []string{"v1.11"}}))
	})
	mux.HandleFunc("GET "+p+"/account/whoami", h.whoami)
	mux.HandleFunc("GET "+p+"/sync", h.sync)
	mux.HandleFunc("GET "+p+"/user/{user}/account_data/{type}", func(w http.ResponseWriter, r *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "account data "+r.PathValue("type")+" not found")
	})
	mux.HandleFunc("GET "+p+"/profile/{user}/displayname", func(w http.ResponseWriter, r *http.Request) {
		writeResponse(w, JSONResponse(http.StatusOK, map[string]string{"displayname": r.PathValue("user")}))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_UNRECOGNIZED", "the fake homeserver does not serve "+r.Method+" "+r.URL.Path)
	})
	h.Server = httptest.NewServer(mux)
	h.URL = h.Server.URL
	t.Cleanup(h.Server.Close)
	return h
}

// user returns the account of the request's access token, or "" (then it has answered 401).
func (h *FakeFleetHomeserver) user(w http.ResponseWriter, r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	num, ok := strings.CutPrefix(tok, "fleet-token-")
	i, err := strconv.Atoi(num)
	if !ok || err != nil || i < 0 || i >= h.n {
		writeMatrixError(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "unknown access token")
		return ""
	}
	return FleetUser(i)
}

func (h *FakeFleetHomeserver) whoami(w http.ResponseWriter, r *http.Request) {
	if u := h.user(w, r); u != "" {
		h.mu.Lock()
		h.whoamis[u]++
		h.mu.Unlock()
		writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"user_id": u, "device_id": "FLEETDEVICE"}))
	}
}

func (h *FakeFleetHomeserver) sync(w http.ResponseWriter, r *http.Request) {
	u := h.user(w, r)
	if u == "" {
		return
	}
	since := r.URL.Query().Get("since")
	hold := h.IdleWait
	if ms, err := strconv.Atoi(r.URL.Query().Get("timeout")); err == nil {
		hold = min(hold, time.Duration(ms)*time.Millisecond)
	}
	h.mu.Lock()
	h.syncs++
	if since == "" {
		h.initialInFlight++
		h.initialSyncs[u]++
		h.maxInitial = max(h.maxInitial, h.initialInFlight)
		hold = h.InitialSyncHold
	}
	h.mu.Unlock()
	if since == "" {
		defer func() {
			h.mu.Lock()
			h.initialInFlight--
			h.mu.Unlock()
		}()
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return
	case <-t.C:
	}
	writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"next_batch": "s_" + u}))
}

// MaxInitialSyncs is the most initial syncs that were ever in flight at once.
func (h *FakeFleetHomeserver) MaxInitialSyncs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxInitial
}

// InitialSyncs is how many accounts made an initial sync.
func (h *FakeFleetHomeserver) InitialSyncs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.initialSyncs)
}

// Whoamis is how many times account i asked /account/whoami (each session's login does once).
func (h *FakeFleetHomeserver) Whoamis(i int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.whoamis[FleetUser(i)]
}

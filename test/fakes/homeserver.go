package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// FakeHomeserver is a thin stand-in for a Matrix homeserver: just the client-server endpoints a
// bot session calls, answering from scripts, and a record of every request. It checks nothing
// but the access token; it is not a homeserver (end-to-end tests run against Synapse).
//
// Served: GET /account/whoami, GET /sync (scripted), GET /user/{id}/account_data/m.direct
// (404 M_NOT_FOUND), GET /profile/{id}/displayname, GET /rooms/{id}/messages (scripted per room),
// PUT /rooms/{id}/send/{type}/{txn} (recorded), GET /rooms/{id}/state/{type}/{key} (scripted with
// SetState; 404 M_NOT_FOUND when not), GET /rooms/{id}/event/{id} (scripted with SetEvent, held
// with HoldEvents; 404 M_NOT_FOUND when not). Anything else is 404 M_UNRECOGNIZED.
//
// Keep-alives are off, so that every request has its own connection: a dropped connection
// (FakeResponse.Drop) then reaches the client as a network error that its transport cannot
// silently retry.
type FakeHomeserver struct {
	Server *httptest.Server
	URL    string // base URL, for the bot's homeserver setting

	// IdleWait is how long /sync blocks once its script is used up (or until the request ends)
	// before it answers an empty sync with the same next_batch. Default 50 ms.
	IdleWait time.Duration

	mu          sync.Mutex
	token       string
	userID      id.UserID
	deviceID    id.DeviceID
	displayName string
	syncs       []FakeResponse
	messages    map[id.RoomID][]FakeResponse
	state       map[string]FakeResponse // room + "|" + type + "|" + state key
	events      map[string]FakeResponse // room + "|" + event ID
	eventsHeld  int                     // GET /event waits until this many have arrived
	requests    []FakeRequest
	sent        []FakeSentEvent
	txns        int
	changed     chan struct{} // closed (and replaced) whenever a request is recorded
}

// FakeResponse is one scripted answer.
type FakeResponse struct {
	Status int         // default 200
	Body   string      // JSON
	Header http.Header // extra response headers
	// Drop closes the connection without an answer: a network-level failure.
	Drop bool
	// Since, for a /sync answer, serves it only to a request with since=Since, as a homeserver
	// answers a position with what follows it ("" serves it to the next request, whatever since).
	// A queued answer that does not fit waits for one that does; those behind it may go first.
	Since string
}

// FakeRequest is one request as the fake received it.
type FakeRequest struct {
	At     time.Time // when it arrived
	Method string
	Path   string // unescaped, e.g. /_matrix/client/v3/sync
	Query  url.Values
	Auth   string // the Authorization header
	Body   []byte
}

// FakeSentEvent is one recorded PUT /rooms/{id}/send/{type}/{txn}.
type FakeSentEvent struct {
	RoomID  id.RoomID
	Type    string
	TxnID   string
	EventID id.EventID
	Content json.RawMessage
}

// NewFakeHomeserver starts a fake homeserver for the bot userID with access token token. It is
// closed when the test ends.
func NewFakeHomeserver(t testing.TB, userID id.UserID, token string) *FakeHomeserver {
	t.Helper()
	h := &FakeHomeserver{
		IdleWait: 50 * time.Millisecond,
		token:    token,
		userID:   userID,
		deviceID: "FAKEDEVICE",
		messages: map[id.RoomID][]FakeResponse{},
		state:    map[string]FakeResponse{},
		events:   map[string]FakeResponse{},
		changed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	const p = "/_matrix/client/v3"
	mux.HandleFunc("GET "+p+"/account/whoami", h.whoami)
	mux.HandleFunc("GET "+p+"/sync", h.sync)
	mux.HandleFunc("GET "+p+"/user/{user}/account_data/{type}", h.accountData)
	mux.HandleFunc("GET "+p+"/profile/{user}/displayname", h.profileName)
	mux.HandleFunc("GET "+p+"/rooms/{room}/messages", h.roomMessages)
	mux.HandleFunc("PUT "+p+"/rooms/{room}/send/{type}/{txn}", h.send)
	mux.HandleFunc("GET "+p+"/rooms/{room}/state/{type}/{key...}", h.roomState)
	mux.HandleFunc("PUT "+p+"/rooms/{room}/state/{type}/{key...}", h.send) // recorded as sent (TxnID empty)
	mux.HandleFunc("GET "+p+"/rooms/{room}/event/{event}", h.roomEvent)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_UNRECOGNIZED", "the fake homeserver does not serve "+r.Method+" "+r.URL.Path)
	})
	h.Server = httptest.NewUnstartedServer(h.record(mux))
	h.Server.Config.SetKeepAlivesEnabled(false)
	h.Server.Start()
	h.URL = h.Server.URL
	t.Cleanup(h.Server.Close)
	return h
}

// SetWhoami makes /account/whoami answer with user (e.g. another account than the bot's).
func (h *FakeHomeserver) SetWhoami(user id.UserID) {
	h.mu.Lock()
	h.userID = user
	h.mu.Unlock()
}

// SetDisplayName sets what /profile/{id}/displayname answers.
func (h *FakeHomeserver) SetDisplayName(name string) {
	h.mu.Lock()
	h.displayName = name
	h.mu.Unlock()
}

// QueueSync appends answers to the /sync script; each request takes the next one.
func (h *FakeHomeserver) QueueSync(rs ...FakeResponse) {
	h.mu.Lock()
	h.syncs = append(h.syncs, rs...)
	h.mu.Unlock()
}

// QueueMessages appends answers to the /rooms/{room}/messages script of room.
func (h *FakeHomeserver) QueueMessages(room id.RoomID, rs ...FakeResponse) {
	h.mu.Lock()
	h.messages[room] = append(h.messages[room], rs...)
	h.mu.Unlock()
}

// SetState makes GET /rooms/{room}/state/{type}/{stateKey} answer r (every time).
func (h *FakeHomeserver) SetState(room id.RoomID, evtType, stateKey string, r FakeResponse) {
	h.mu.Lock()
	h.state[string(room)+"|"+evtType+"|"+stateKey] = r
	h.mu.Unlock()
}

// SetEvent makes GET /rooms/{room}/event/{event} answer r (every time); an event not set is
// 404 M_NOT_FOUND.
func (h *FakeHomeserver) SetEvent(room id.RoomID, evt id.EventID, r FakeResponse) {
	h.mu.Lock()
	h.events[string(room)+"|"+string(evt)] = r
	h.mu.Unlock()
}

// HoldEvents makes each GET /rooms/{room}/event/{event} wait until n such requests have
// arrived in all (or the request ends): a client that asks for events one at a time, waiting
// for each answer, gets none of the first n-1.
func (h *FakeHomeserver) HoldEvents(n int) {
	h.mu.Lock()
	h.eventsHeld = n
	h.mu.Unlock()
}

// PendingSyncs is how many scripted /sync answers are left.
func (h *FakeHomeserver) PendingSyncs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.syncs)
}

// Requests returns the recorded requests, oldest first.
func (h *FakeHomeserver) Requests() []FakeRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]FakeRequest(nil), h.requests...)
}

// RequestsTo returns the recorded requests whose path ends with suffix, oldest first.
func (h *FakeHomeserver) RequestsTo(suffix string) []FakeRequest {
	var out []FakeRequest
	for _, r := range h.Requests() {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// Sent returns the recorded sent events, oldest first.
func (h *FakeHomeserver) Sent() []FakeSentEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]FakeSentEvent(nil), h.sent...)
}

// Changed returns a channel that is closed when the next request is recorded. Take it before
// checking a condition on Requests, then wait on it, so that no request is missed.
func (h *FakeHomeserver) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

// JSONResponse is a scripted answer with status and v marshalled as the body.
func JSONResponse(status int, v any) FakeResponse {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fakes: cannot marshal response: %v", err))
	}
	return FakeResponse{Status: status, Body: string(raw)}
}

// MatrixError is a scripted Matrix error answer; extra fields (e.g. retry_after_ms) are merged in.
func MatrixError(status int, errcode, msg string, extra map[string]any) FakeResponse {
	body := map[string]any{"errcode": errcode, "error": msg}
	for k, v := range extra {
		body[k] = v
	}
	return JSONResponse(status, body)
}

func (h *FakeHomeserver) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.requests = append(h.requests, FakeRequest{
			At: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
			Auth: r.Header.Get("Authorization"), Body: body,
		})
		close(h.changed)
		h.changed = make(chan struct{})
		token := h.token
		h.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeMatrixError(w, http.StatusUnauthorized, "M_UNKNOWN_TOKEN", "unknown access token")
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		next.ServeHTTP(w, r)
	})
}

func (h *FakeHomeserver) whoami(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	resp := map[string]any{"user_id": h.userID, "device_id": h.deviceID}
	h.mu.Unlock()
	writeResponse(w, JSONResponse(http.StatusOK, resp))
}

func (h *FakeHomeserver) sync(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	var next *FakeResponse
	since := r.URL.Query().Get("since")
	for i := range h.syncs {
		if h.syncs[i].Since == "" || h.syncs[i].Since == since {
			resp := h.syncs[i]
			next = &resp
			h.syncs = append(h.syncs[:i:i], h.syncs[i+1:]...)
			break
		}
	}
	idle := h.IdleWait
	h.mu.Unlock()
	if next != nil {
		writeResponse(w, *next)
		return
	}
	// Nothing scripted: behave like a long poll that times out, without spinning the client.
	t := time.NewTimer(idle)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return
	case <-t.C:
	}
	if since == "" {
		since = "s_idle"
	}
	writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"next_batch": since}))
}

func (h *FakeHomeserver) accountData(w http.ResponseWriter, r *http.Request) {
	writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "account data "+r.PathValue("type")+" not found")
}

func (h *FakeHomeserver) profileName(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	name := h.displayName
	h.mu.Unlock()
	writeResponse(w, JSONResponse(http.StatusOK, map[string]string{"displayname": name}))
}

func (h *FakeHomeserver) roomMessages(w http.ResponseWriter, r *http.Request) {
	room := id.RoomID(r.PathValue("room"))
	h.mu.Lock()
	var next *FakeResponse
	if q := h.messages[room]; len(q) > 0 {
		next = &q[0]
		h.messages[room] = q[1:]
	}
	h.mu.Unlock()
	if next == nil {
		writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"chunk": []any{}, "start": r.URL.Query().Get("from")}))
		return
	}
	writeResponse(w, *next)
}

func (h *FakeHomeserver) roomState(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	resp, ok := h.state[r.PathValue("room")+"|"+r.PathValue("type")+"|"+r.PathValue("key")]
	h.mu.Unlock()
	if !ok {
		writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "Event not found.")
		return
	}
	writeResponse(w, resp)
}

func (h *FakeHomeserver) roomEvent(w http.ResponseWriter, r *http.Request) {
	for {
		changed := h.Changed()
		h.mu.Lock()
		asked := 0
		for _, req := range h.requests {
			if strings.Contains(req.Path, "/event/") {
				asked++
			}
		}
		held := h.eventsHeld
		h.mu.Unlock()
		if asked >= held {
			break
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
	h.mu.Lock()
	resp, ok := h.events[r.PathValue("room")+"|"+r.PathValue("event")]
	h.mu.Unlock()
	if !ok {
		writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "Event not found.")
		return
	}
	writeResponse(w, resp)
}

func (h *FakeHomeserver) send(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.txns++
	evt := id.EventID(fmt.Sprintf("$sent%d", h.txns))
	h.sent = append(h.sent, FakeSentEvent{
		RoomID: id.RoomID(r.PathValue("room")), Type: r.PathValue("type"), TxnID: r.PathValue("txn"),
		EventID: evt, Content: json.RawMessage(body),
	})
	h.mu.Unlock()
	writeResponse(w, JSONResponse(http.StatusOK, map[string]any{"event_id": evt}))
}

func writeMatrixError(w http.ResponseWriter, status int, errcode, msg string) {
	writeResponse(w, MatrixError(status, errcode, msg, nil))
}

func writeResponse(w http.ResponseWriter, r FakeResponse) {
	if r.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, r.Body)
}

package fakes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SyncRecording is what FakeReplayHomeserver replays: real Synapse answers, recorded once by
// `go run -tags goolm ./test/bench/cmd/bench record` (testdata/sync-recording.json). The bot's
// user ID in them is RecordedBot; the replay puts each bot's own ID in its place.
type SyncRecording struct {
	// Homeserver names the server and version the answers came from.
	Homeserver string `json:"homeserver"`
	// RecordedBot is the bot's user ID as it appears in the answers.
	RecordedBot string `json:"recorded_bot"`
	// RoomID is the room the bot is joined to.
	RoomID string `json:"room_id"`
	// Initial is the bot's first /sync (no since): the room joined, with its state.
	Initial json.RawMessage `json:"initial"`
	// Message is one m.room.message event of another member, as /sync delivered it in the
	// room's timeline: the template of every replayed message.
	Message json.RawMessage `json:"message"`
	// Members is GET /rooms/{room}/members; JoinedMembers is GET /rooms/{room}/joined_members.
	Members       json.RawMessage `json:"members"`
	JoinedMembers json.RawMessage `json:"joined_members"`
}

// LoadSyncRecording reads a recording written by the recorder.
func LoadSyncRecording(path string) (*SyncRecording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the sync recording: %w", err)
	}
	var rec SyncRecording
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("failed to parse the sync recording %s: %w", path, err)
	}
	if rec.RecordedBot == "" || rec.RoomID == "" || len(rec.Initial) == 0 || len(rec.Message) == 0 {
		return nil, fmt.Errorf("sync recording %s: recorded_bot, room_id, initial and message are required", path)
	}
	var msg map[string]any
	if err := json.Unmarshal(rec.Message, &msg); err != nil {
		return nil, fmt.Errorf("sync recording %s: message is not a JSON object: %w", path, err)
	}
	return &rec, nil
}

// FakeReplayHomeserver is a stand-in homeserver for benchmarks: it is not a homeserver, it
// replays a recorded /sync stream (SyncRecording) so that the gateway can be measured with the
// homeserver out of the path. Each access token "TOKEN" given to AddBot is one bot; its first
// /sync answers the recorded initial sync, and later ones answer the messages released with
// Release, up to BatchSize per /sync, as fast as they are asked for. With nothing to hand out a
// /sync waits like a long poll (its timeout, at most 30 s). Every message is the recorded one
// with its own event ID ("$replay<N>") and body ("replay <N>"), the same for every bot.
//
// Served under /_matrix/client/{v3,r0}: whoami, sync, filter (create), account_data (404),
// profile and displayname, presence (PUT), members, joined_members, joined_rooms,
// rooms/{room}/state (404), rooms/{room}/send (accepted, not synced back), and
// /_matrix/client/versions. For end-to-end encryption it keeps
// what a bot uploads: keys/upload (device keys, one-time key counts), keys/query (those device
// keys), keys/claim (none), sendToDevice, devices/{id} (display name); room_keys/version is 404
// (no backup). Anything else is 404 M_UNRECOGNIZED and counted (Unserved), so a benchmark can say what the gateway asked that the fake lacks.
type FakeReplayHomeserver struct {
	URL       string
	BatchSize int // messages per /sync answer (default 100)

	rec      *SyncRecording
	srv      *http.Server
	template map[string]any

	mu       sync.Mutex
	bots     map[string]string // token → user ID
	released int               // messages handed out so far, per bot stream
	more     chan struct{}     // closed (and replaced) by Release
	unserved map[string]int
	keys     map[string]*replayDevice // user ID → its one device's keys

	syncs atomic.Int64
}

// NewFakeReplayHomeserver serves rec on a free port of 127.0.0.1 until Close.
func NewFakeReplayHomeserver(rec *SyncRecording) (*FakeReplayHomeserver, error) {
	h := &FakeReplayHomeserver{
		BatchSize: 100, rec: rec, bots: map[string]string{}, more: make(chan struct{}), unserved: map[string]int{},
		keys: map[string]*replayDevice{},
	}
	if err := json.Unmarshal(rec.Message, &h.template); err != nil {
		return nil, fmt.Errorf("failed to parse the recorded message: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen: %w", err)
	}
	mux := http.NewServeMux()
	for _, p := range []string{"/_matrix/client/v3", "/_matrix/client/r0"} {
		mux.HandleFunc("GET "+p+"/account/whoami", h.authed(h.whoami))
		mux.HandleFunc("GET "+p+"/sync", h.authed(h.sync))
		mux.HandleFunc("POST "+p+"/user/{user}/filter", h.authed(replayFilter))
		mux.HandleFunc("GET "+p+"/user/{user}/account_data/{type}", h.authed(replayNotFound))
		mux.HandleFunc("GET "+p+"/profile/{user}", h.authed(h.profile))
		mux.HandleFunc("GET "+p+"/profile/{user}/displayname", h.authed(h.profile))
		mux.HandleFunc("PUT "+p+"/presence/{user}/status", h.authed(replayEmpty))
		mux.HandleFunc("GET "+p+"/rooms/{room}/members", h.authed(h.members))
		mux.HandleFunc("GET "+p+"/rooms/{room}/joined_members", h.authed(h.joinedMembers))
		mux.HandleFunc("GET "+p+"/joined_rooms", h.authed(h.joinedRooms))
		mux.HandleFunc("GET "+p+"/rooms/{room}/state/{type}/{key...}", h.authed(replayNotFound))
		mux.HandleFunc("PUT "+p+"/rooms/{room}/send/{type}/{txn}", h.authed(replaySent))
		// End-to-end encryption: what a bot's crypto setup needs, kept as thin as that.
		mux.HandleFunc("POST "+p+"/keys/upload", h.authed(h.keysUpload))
		mux.HandleFunc("POST "+p+"/keys/query", h.authed(h.keysQuery))
		mux.HandleFunc("POST "+p+"/keys/claim", h.authed(h.keysClaim))
		mux.HandleFunc("PUT "+p+"/sendToDevice/{type}/{txn}", h.authed(replayEmpty))
		mux.HandleFunc("PUT "+p+"/devices/{device}", h.authed(h.setDevice))
		mux.HandleFunc("GET "+p+"/devices/{device}", h.authed(h.getDevice))
		mux.HandleFunc("GET "+p+"/room_keys/version", h.authed(replayNotFound))
	}
	mux.HandleFunc("GET /_matrix/client/versions", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusOK, []byte(`{"versions":["v1.1","v1.2","v1.3","v1.4","v1.5","v1.6","v1.7","v1.8","v1.9","v1.10","v1.11"]}`))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.unserved[r.Method+" "+r.URL.Path]++
		h.mu.Unlock()
		writeRaw(w, http.StatusNotFound, []byte(`{"errcode":"M_UNRECOGNIZED","error":"the replay homeserver does not serve this"}`))
	})
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	h.URL = "http://" + ln.Addr().String()
	return h, nil
}

// Close stops the server (waiting /syncs are cut off).
func (h *FakeReplayHomeserver) Close() { _ = h.srv.Close() }

// AddBot makes token a valid access token of the bot userID (whose ID replaces RecordedBot).
func (h *FakeReplayHomeserver) AddBot(token, userID string) {
	h.mu.Lock()
	h.bots[token] = userID
	h.mu.Unlock()
}

// Release hands out n more messages to every bot's stream.
func (h *FakeReplayHomeserver) Release(n int) {
	h.mu.Lock()
	h.released += n
	close(h.more)
	h.more = make(chan struct{})
	h.mu.Unlock()
}

// Released is how many messages have been released so far.
func (h *FakeReplayHomeserver) Released() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.released
}

// Syncs is how many /sync requests have been answered.
func (h *FakeReplayHomeserver) Syncs() int64 { return h.syncs.Load() }

// Unserved returns the requests answered M_UNRECOGNIZED, by "METHOD path", with counts.
func (h *FakeReplayHomeserver) Unserved() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]int, len(h.unserved))
	for k, v := range h.unserved {
		out[k] = v
	}
	return out
}

type botHandler func(w http.ResponseWriter, r *http.Request, user string)

func (h *FakeReplayHomeserver) authed(next botHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.URL.Query().Get("access_token")
		}
		h.mu.Lock()
		user, ok := h.bots[token]
		h.mu.Unlock()
		if !ok {
			writeRaw(w, http.StatusUnauthorized, []byte(`{"errcode":"M_UNKNOWN_TOKEN","error":"unknown access token"}`))
			return
		}
		next(w, r, user)
	}
}

// forBot puts user in place of the recorded bot's ID.
func (h *FakeReplayHomeserver) forBot(raw []byte, user string) []byte {
	return bytes.ReplaceAll(raw, []byte(h.rec.RecordedBot), []byte(user))
}

func (h *FakeReplayHomeserver) whoami(w http.ResponseWriter, _ *http.Request, user string) {
	b, _ := json.Marshal(map[string]string{"user_id": user, "device_id": "REPLAY"})
	writeRaw(w, http.StatusOK, b)
}

func replayFilter(w http.ResponseWriter, _ *http.Request, _ string) {
	writeRaw(w, http.StatusOK, []byte(`{"filter_id":"1"}`))
}

func replayNotFound(w http.ResponseWriter, _ *http.Request, _ string) {
	writeRaw(w, http.StatusNotFound, []byte(`{"errcode":"M_NOT_FOUND","error":"not found"}`))
}

// replaySent accepts a room event at once, as a homeserver that takes no time would: its event ID
// is made of the transaction ID (the same transaction, the same ID), and nothing is stored or
// synced back.
func replaySent(w http.ResponseWriter, r *http.Request, _ string) {
	b, _ := json.Marshal(map[string]string{"event_id": "$sent-" + r.PathValue("txn")})
	writeRaw(w, http.StatusOK, b)
}

func replayEmpty(w http.ResponseWriter, _ *http.Request, _ string) {
	writeRaw(w, http.StatusOK, []byte(`{}`))
}

func (h *FakeReplayHomeserver) profile(w http.ResponseWriter, r *http.Request, _ string) {
	name, _, _ := strings.Cut(strings.TrimPrefix(r.PathValue("user"), "@"), ":")
	b, _ := json.Marshal(map[string]string{"displayname": name})
	writeRaw(w, http.StatusOK, b)
}

func (h *FakeReplayHomeserver) members(w http.ResponseWriter, r *http.Request, user string) {
	h.roomAnswer(w, r, user, h.rec.Members, `{"chunk":[]}`)
}

func (h *FakeReplayHomeserver) joinedMembers(w http.ResponseWriter, r *http.Request, user string) {
	h.roomAnswer(w, r, user, h.rec.JoinedMembers, `{"joined":{}}`)
}

func (h *FakeReplayHomeserver) roomAnswer(w http.ResponseWriter, r *http.Request, user string, recorded json.RawMessage, empty string) {
	if r.PathValue("room") != h.rec.RoomID {
		writeRaw(w, http.StatusForbidden, []byte(`{"errcode":"M_FORBIDDEN","error":"not in that room"}`))
		return
	}
	if len(recorded) == 0 {
		writeRaw(w, http.StatusOK, []byte(empty))
		return
	}
	writeRaw(w, http.StatusOK, h.forBot(recorded, user))
}

func (h *FakeReplayHomeserver) joinedRooms(w http.ResponseWriter, _ *http.Request, _ string) {
	b, _ := json.Marshal(map[string][]string{"joined_rooms": {h.rec.RoomID}})
	writeRaw(w, http.StatusOK, b)
}

// sync answers the initial sync for no since, else the released messages after since (a
// position "r<N>"), waiting for more like a long poll when there are none.
func (h *FakeReplayHomeserver) sync(w http.ResponseWriter, r *http.Request, user string) {
	h.syncs.Add(1)
	q := r.URL.Query()
	since := q.Get("since")
	h.mu.Lock()
	released, more := h.released, h.more
	h.mu.Unlock()
	if since == "" {
		// The initial sync starts the stream at the messages released so far, like a homeserver
		// whose history is not handed over as new.
		body, err := withNextBatch(h.forBot(h.rec.Initial, user), released, h.otkCount(user))
		if err != nil {
			writeRaw(w, http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"bad recording"}`))
			return
		}
		writeRaw(w, http.StatusOK, body)
		return
	}
	pos, err := strconv.Atoi(strings.TrimPrefix(since, "r"))
	if err != nil || !strings.HasPrefix(since, "r") || pos < 0 {
		writeRaw(w, http.StatusBadRequest, []byte(`{"errcode":"M_INVALID_PARAM","error":"since is not a replay position"}`))
		return
	}
	if pos >= released {
		timeout, _ := strconv.Atoi(q.Get("timeout"))
		timer := time.NewTimer(time.Duration(min(max(timeout, 0), 30000)) * time.Millisecond)
		select {
		case <-more:
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
		timer.Stop()
		h.mu.Lock()
		released = h.released
		h.mu.Unlock()
	}
	end := min(released, pos+max(h.BatchSize, 1))
	body, err := h.batch(pos, end, h.otkCount(user))
	if err != nil {
		writeRaw(w, http.StatusInternalServerError, []byte(`{"errcode":"M_UNKNOWN","error":"bad recording"}`))
		return
	}
	writeRaw(w, http.StatusOK, body)
}

// otkCount is the device_one_time_keys_count of user's sync answers: the one-time keys its bot
// uploaded. Synapse sends it in every answer, idle ones included; without it mautrix takes the
// count for 0 and checks (or tops up) the keys on every sync, which no bot on Synapse does.
func (h *FakeReplayHomeserver) otkCount(user string) map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return map[string]int{"signed_curve25519": h.device(user).otks}
}

// batch renders the sync answer with messages from (exclusive) to end (inclusive count).
func (h *FakeReplayHomeserver) batch(from, end int, otks map[string]int) ([]byte, error) {
	next := "r" + strconv.Itoa(max(end, from))
	if end <= from {
		return json.Marshal(map[string]any{"next_batch": next, "device_one_time_keys_count": otks})
	}
	events := make([]map[string]any, 0, end-from)
	now := time.Now().UnixMilli()
	for i := from + 1; i <= end; i++ {
		events = append(events, ReplayMessage(h.template, i, now))
	}
	return json.Marshal(map[string]any{
		"next_batch":                 next,
		"device_one_time_keys_count": otks,
		"rooms": map[string]any{"join": map[string]any{h.rec.RoomID: map[string]any{
			"timeline": map[string]any{"events": events, "limited": false, "prev_batch": "r" + strconv.Itoa(from)},
		}}},
	})
}

// ReplayMessage is message n of the replay: the template with its own event ID, body and time.
func ReplayMessage(template map[string]any, n int, nowMs int64) map[string]any {
	ev := make(map[string]any, len(template))
	for k, v := range template {
		ev[k] = v
	}
	ev["event_id"] = fmt.Sprintf("$replay%d", n)
	ev["origin_server_ts"] = nowMs
	unsigned := map[string]any{}
	if u, ok := template["unsigned"].(map[string]any); ok {
		for k, v := range u {
			unsigned[k] = v
		}
	}
	unsigned["age"] = 0
	ev["unsigned"] = unsigned
	content := map[string]any{}
	if c, ok := template["content"].(map[string]any); ok {
		for k, v := range c {
			content[k] = v
		}
	}
	content["body"] = fmt.Sprintf("replay %d", n)
	delete(content, "formatted_body")
	delete(content, "format")
	ev["content"] = content
	return ev
}

// withNextBatch sets next_batch of a recorded sync answer to the replay position released.
func withNextBatch(raw []byte, released int, otks map[string]int) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("the recorded initial sync is not a JSON object")
	}
	m["next_batch"], _ = json.Marshal("r" + strconv.Itoa(released))
	m["device_one_time_keys_count"], _ = json.Marshal(otks)
	return json.Marshal(m)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// replayDevice is what a bot uploaded for its device.
type replayDevice struct {
	deviceKeys json.RawMessage
	otks       int
	name       string
}

func (h *FakeReplayHomeserver) device(user string) *replayDevice {
	d := h.keys[user]
	if d == nil {
		d = &replayDevice{}
		h.keys[user] = d
	}
	return d
}

func (h *FakeReplayHomeserver) keysUpload(w http.ResponseWriter, r *http.Request, user string) {
	var req struct {
		DeviceKeys   json.RawMessage            `json:"device_keys"`
		OneTimeKeys  map[string]json.RawMessage `json:"one_time_keys"`
		FallbackKeys map[string]json.RawMessage `json:"fallback_keys"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeRaw(w, http.StatusBadRequest, []byte(`{"errcode":"M_BAD_JSON","error":"bad keys/upload body"}`))
		return
	}
	h.mu.Lock()
	d := h.device(user)
	if len(req.DeviceKeys) > 0 && string(req.DeviceKeys) != "null" {
		d.deviceKeys = req.DeviceKeys
	}
	d.otks += len(req.OneTimeKeys)
	n := d.otks
	h.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"one_time_key_counts": map[string]int{"signed_curve25519": n}})
	writeRaw(w, http.StatusOK, b)
}

func (h *FakeReplayHomeserver) keysQuery(w http.ResponseWriter, r *http.Request, _ string) {
	var req struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeRaw(w, http.StatusBadRequest, []byte(`{"errcode":"M_BAD_JSON","error":"bad keys/query body"}`))
		return
	}
	out := map[string]map[string]json.RawMessage{}
	h.mu.Lock()
	for user := range req.DeviceKeys {
		out[user] = map[string]json.RawMessage{}
		if d := h.keys[user]; d != nil && len(d.deviceKeys) > 0 {
			var head struct {
				DeviceID string `json:"device_id"`
			}
			if json.Unmarshal(d.deviceKeys, &head) == nil && head.DeviceID != "" {
				out[user][head.DeviceID] = d.deviceKeys
			}
		}
	}
	h.mu.Unlock()
	b, _ := json.Marshal(map[string]any{"device_keys": out, "failures": map[string]any{}})
	writeRaw(w, http.StatusOK, b)
}

func (h *FakeReplayHomeserver) keysClaim(w http.ResponseWriter, _ *http.Request, _ string) {
	writeRaw(w, http.StatusOK, []byte(`{"one_time_keys":{},"failures":{}}`))
}

func (h *FakeReplayHomeserver) setDevice(w http.ResponseWriter, r *http.Request, user string) {
	var req struct {
		DisplayName string `json:"display_name"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	h.mu.Lock()
	h.device(user).name = req.DisplayName
	h.mu.Unlock()
	writeRaw(w, http.StatusOK, []byte(`{}`))
}

func (h *FakeReplayHomeserver) getDevice(w http.ResponseWriter, r *http.Request, user string) {
	h.mu.Lock()
	name := h.device(user).name
	h.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"device_id": r.PathValue("device"), "display_name": name})
	writeRaw(w, http.StatusOK, b)
}

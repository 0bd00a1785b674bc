package satori

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Host is what the face needs from the gateway: its bots, its access tokens and its media
// intake (a part of face.Host, which the hub gives it; tests use a stand-in).
type Host interface {
	Bots() []model.Bot
	Authorize(token string) (bot model.Bot, ok bool)
	ResolveMedia(ctx context.Context, segs []model.Segment) error
}

// authGate checks the access token of API calls and IDENTIFYs, and limits wrong ones per address.
type authGate struct{ f *Face }

// authorize is Host.Authorize with the bot a token is limited to as its user ID ("" = every bot).
func (g authGate) authorize(token string) (id.UserID, bool) {
	f := g.f
	b, ok := f.host.Authorize(token)
	if b == nil {
		return "", ok
	}
	return b.UserID(), ok
}

// Options configure a Face.
type Options struct {
	// Host gives the face its bots; nil until MountPublic attaches the hub.
	Host Host
	// Path is where the face is served: {Path}/v1/… ("" = /v1/…).
	Path   string
	Logger *slog.Logger
	// Backlog is how many events are kept in memory for clients that resume (IDENTIFY with an
	// sn) when the hub's stream is not retained (no outbox); default 1000. With an outbox the
	// events are kept there (face.History).
	Backlog int
	// MaxBody is the largest API request body in bytes (a message may carry a file as a data:
	// URL); default 16 MiB. Only message.create, message.update and upload.create may be that
	// large.
	MaxBody int64
	// MaxActionSize is the largest body of the other methods (GATEWAY_MAX_ACTION_SIZE); default
	// 1 MiB, never above MaxBody.
	MaxActionSize int64
	// PingTimeout closes an event stream that sent nothing (no PING) for this long; default 60 s.
	PingTimeout time.Duration
	// QueueSize is how many events wait for one slow client before it is disconnected (it
	// resumes from the backlog); default 256.
	QueueSize int
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed on the event stream
	// besides the gateway's own (GATEWAY_ALLOWED_ORIGINS; the hub's guard refuses the others
	// before the face sees them).
	AllowedOrigins []string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Face serves the Satori protocol for the bots of a Host; the hub hands it the bots' events
// (hub.go), tests through Publish.
type Face struct {
	opts   Options
	host   Host
	log    *slog.Logger
	events *backlog

	hub        face.Host // set by MountPublic
	streamOnce sync.Once // the hub's event stream is subscribed at the first IDENTIFY
	hist       face.History
	lastSN     atomic.Int64 // the newest sn pumped from a retained stream
	resumeGaps atomic.Int64 // resumes that asked for events no longer kept
	// statusMade counts the login frames StatusChanged made for the hub's stream, statusPumped
	// those the pump queued on the streams: Drain waits for the final ones.
	statusMade, statusPumped atomic.Int64
	stopPump                 context.CancelFunc
	pumped                   chan struct{} // closed when the pump has returned

	mu         sync.Mutex
	sessions   map[*session]struct{}
	identified bool // a client has identified once: the backlog keeps events for its return
	loginSN    map[id.UserID]int64
}

// New returns a Face; it starts nothing.
func New(opts Options) *Face {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Backlog <= 0 {
		opts.Backlog = 1000
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 16 << 20
	}
	if opts.MaxActionSize <= 0 {
		opts.MaxActionSize = 1 << 20
	}
	opts.MaxActionSize = min(opts.MaxActionSize, opts.MaxBody)
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 60 * time.Second
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Face{
		opts: opts, host: opts.Host, log: opts.Logger.With("face", "satori"),
		events:   newBacklog(opts.Backlog, opts.Now().UnixMilli()),
		sessions: map[*session]struct{}{}, loginSN: map[id.UserID]int64{},
	}
}

// login is the Login of bot b, numbered once per bot in this process.
func (f *Face) login(b model.Bot) Login {
	f.mu.Lock()
	sn, ok := f.loginSN[b.UserID()]
	if !ok {
		sn = int64(len(f.loginSN) + 1)
		f.loginSN[b.UserID()] = sn
	}
	f.mu.Unlock()
	return LoginOf(b, sn)
}

func (f *Face) bot(u id.UserID) model.Bot {
	for _, b := range f.host.Bots() {
		if b.UserID() == u {
			return b
		}
	}
	return nil
}

// encodeEvent renders ev as a Satori event without its sn (the face numbers events as they
// reach its streams, in order); nil for kinds Satori has no event for and for unknown bots.
func (f *Face) encodeEvent(ev *model.Event) []byte {
	b := f.bot(ev.Self)
	if b == nil {
		return nil
	}
	se, ok := EventOf(ev, f.login(b))
	if !ok {
		return nil
	}
	return marshal(se)
}

// Publish hands an event to the face directly (a Host without a hub stream: tests): it is
// encoded, numbered, kept and queued as a hub stream's frames are. It returns how many consumers
// took it: the live streams, plus the backlog once a client has identified.
func (f *Face) Publish(_ context.Context, ev *model.Event) int {
	body := f.encodeEvent(ev)
	if body == nil {
		return 0
	}
	return f.emit(ev.Self, body)
}

// emit numbers an encoded event (body: a JSON object without sn) with the next sn, keeps it for
// resume and queues it on every stream of the bot, never blocking.
func (f *Face) emit(self id.UserID, body []byte) int {
	return f.emitFrame(f.events.add(self, func(sn int64) []byte {
		return mustSignal(OpEvent, withSN(body, sn))
	}))
}

// emitFrame queues a numbered frame on every stream of its bot, never blocking.
func (f *Face) emitFrame(fr frame) int {
	self := fr.bot
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	if f.identified {
		n++
	}
	for s := range f.sessions {
		if s.wants(self) && s.enqueue(fr) {
			n++
		}
	}
	return n
}

// withSN puts "sn" first into a JSON object.
func withSN(body []byte, sn int64) []byte {
	out := make([]byte, 0, len(body)+24)
	out = append(out, `{"sn":`...)
	out = strconv.AppendInt(out, sn, 10)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...)
}

// marshal encodes v as JSON without HTML escaping (contents are full of < and >).
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func mustSignal(op int, body []byte) []byte {
	return marshal(Signal{Op: op, Body: body})
}

// Handler serves the API and the event stream under /v1/ (mount it at the face's prefix with
// http.StripPrefix). It checks the access token itself: the event stream presents it in
// IDENTIFY, not in the upgrade request.
func (f *Face) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/events", f.serveEvents)
	mux.HandleFunc("/v1/{method}", (apiServer{f}).serveAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: the Satori API is POST /v1/{resource}.{method}, the event stream /v1/events")
	})
	return mux
}

type apiError struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body := marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg})
}

// refusalStatus maps the errcode of a homeserver refusal to the status of the Satori API when
// the refusal is about what the client asked for: forbidden, unknown, malformed or too large.
// Other refusals are the homeserver's (502).
var refusalStatus = map[string]int{
	"M_FORBIDDEN":     http.StatusForbidden,
	"M_NOT_FOUND":     http.StatusNotFound,
	"M_INVALID_PARAM": http.StatusBadRequest,
	"M_MISSING_PARAM": http.StatusBadRequest,
	"M_BAD_JSON":      http.StatusBadRequest,
	"M_NOT_JSON":      http.StatusBadRequest,
	"M_TOO_LARGE":     http.StatusRequestEntityTooLarge,
}

// statusOf maps an action error to the HTTP status of the Satori API: 400 bad request, 404
// unknown, 429 rate limited, 503 bot offline or homeserver unreachable; a homeserver refusal by
// its errcode (refusalStatus: 403 M_FORBIDDEN, 404 M_NOT_FOUND, 400 a malformed parameter, 413),
// else 502; 500 otherwise.
func statusOf(err error) int {
	var ae *model.ActionError
	if !errors.As(err, &ae) {
		return http.StatusInternalServerError
	}
	switch ae.Kind {
	case model.ErrBadParam, model.ErrBadSegmentData, model.ErrUnsupportedSegment:
		return http.StatusBadRequest
	case model.ErrNotFound, model.ErrGone:
		return http.StatusNotFound
	case model.ErrRateLimited:
		return http.StatusTooManyRequests
	case model.ErrBotOffline, model.ErrNetwork:
		return http.StatusServiceUnavailable
	case model.ErrPlatform:
		if st, ok := refusalStatus[ae.MatrixErr]; ok {
			return st
		}
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// bearer returns the token of an Authorization header ("" when none).
func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if a == "" {
		return "", true
	}
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// apiServer serves the HTTP API, POST {path}/v1/{resource}.{method}, for a face.
type apiServer struct{ f *Face }

// pickBot finds the bot a request is for: Satori-User-ID (X-Self-ID in clients before protocol
// 1.2), else the only bot; the platform, when given, must be matrix.
func (a apiServer) pickBot(r *http.Request, only id.UserID) (model.Bot, int, string) {
	f := a.f
	platform := firstOf(r.Header.Get("Satori-Platform"), r.Header.Get("X-Platform"))
	if platform != "" && platform != model.Platform {
		return nil, http.StatusBadRequest, "this gateway serves platform " + model.Platform + ", not " + platform
	}
	user := id.UserID(firstOf(r.Header.Get("Satori-User-ID"), r.Header.Get("X-Self-ID")))
	if user == "" {
		user = only
	}
	bots := f.host.Bots()
	if user == "" {
		if len(bots) == 1 {
			return bots[0], 0, ""
		}
		return nil, http.StatusBadRequest, "several bots are served here: name one with the Satori-User-ID header"
	}
	if only != "" && user != only {
		return nil, http.StatusForbidden, "this access token is for " + string(only)
	}
	for _, b := range bots {
		if b.UserID() == user {
			return b, 0, ""
		}
	}
	return nil, http.StatusNotFound, "no bot " + string(user) + " is served here"
}

// fileMethods may carry a file in their content (a data: URL): their bodies may be MaxBody
// large, the others' only MaxActionSize (as OneBot's actions without a file).
var fileMethods = map[string]bool{"message.create": true, "message.update": true, "upload.create": true}

// readBody reads an API request's body, at most limit bytes; on the hub (face.BodyReader) it
// counts against the process's request bytes in flight (GATEWAY_MAX_BYTES_IN_FLIGHT) until
// release, as OneBot requests do.
func (a apiServer) readBody(r *http.Request, limit int64) ([]byte, func(), error) {
	f := a.f
	if br, ok := f.hub.(face.BodyReader); ok {
		return br.ReadBody(r.Context(), r.Body, limit)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err == nil && int64(len(body)) > limit {
		err = face.ErrTooLarge
	}
	return body, func() {}, err
}

// authLimited answers 429 when the client's address presented too many wrong tokens lately
// (face.AuthLimiter, on the hub: counted for every face of the process).
func (g authGate) authLimited(w http.ResponseWriter, r *http.Request) bool {
	f := g.f
	al, ok := f.hub.(face.AuthLimiter)
	if !ok || al.AuthAllowed(r.RemoteAddr) {
		return false
	}
	w.Header().Set("Retry-After", strconv.Itoa(al.AuthRetryAfter()))
	writeError(w, http.StatusTooManyRequests, "too many wrong access tokens from this address: try again later")
	return true
}

// authFailed counts a wrong token from the client's address.
func (g authGate) authFailed(r *http.Request) {
	f := g.f
	if al, ok := f.hub.(face.AuthLimiter); ok {
		al.AuthFailed("satori", r.RemoteAddr)
	}
}

func (a apiServer) serveAPI(w http.ResponseWriter, r *http.Request) {
	f := a.f
	g := authGate{f}
	if g.authLimited(w, r) {
		return
	}
	tok, ok := bearer(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "the Authorization header must be Bearer <token>")
		return
	}
	only, ok := g.authorize(tok)
	if !ok {
		if tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="satori"`)
			writeError(w, http.StatusUnauthorized, "access token required (Authorization: Bearer …)")
		} else {
			g.authFailed(r)
			writeError(w, http.StatusForbidden, "access token wrong")
		}
		return
	}
	method := r.PathValue("method")
	handler, served := resources[method]
	if why, ok := unserved[method]; ok && !served {
		writeError(w, http.StatusNotImplemented, method+" is not served by this gateway: "+why)
		return
	}
	if !served {
		writeError(w, http.StatusNotFound, "unknown or unsupported method: "+method)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	b, status, msg := a.pickBot(r, only)
	if b == nil {
		writeError(w, status, msg)
		return
	}
	limit := f.opts.MaxActionSize
	if fileMethods[method] {
		limit = f.opts.MaxBody
	}
	body, release, err := a.readBody(r, limit)
	if err != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case (errors.As(err, &tooLarge) || errors.Is(err, face.ErrTooLarge)) && !fileMethods[method]:
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a request of %s is limited to %d bytes (GATEWAY_MAX_ACTION_SIZE); only message.create, message.update and upload.create may be larger", method, limit))
		case errors.As(err, &tooLarge) || errors.Is(err, face.ErrTooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is larger than the limit (%d bytes)", f.opts.MaxBody))
		case errors.Is(err, face.ErrBusy):
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeError(w, http.StatusBadRequest, "failed to read the request body: "+err.Error())
		}
		return
	}
	defer release()
	if len(strings.TrimSpace(string(body))) > 0 && !json.Valid(body) && method != "upload.create" { // upload.go: multipart
		writeError(w, http.StatusBadRequest, "the request body is not JSON")
		return
	}
	res, err := handler.run(r.Context(), &call{face: f, bot: b, login: f.login(b), body: body, contentType: r.Header.Get("Content-Type"),
		client: face.ClientKey(r.RemoteAddr, only)})
	if err != nil {
		status := statusOf(err)
		if status >= 500 {
			f.log.Warn("satori action failed", "method", method, "bot", b.UserID(), "error", err)
		}
		writeError(w, status, err.Error())
		return
	}
	if res == nil {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

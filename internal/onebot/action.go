// Package onebot is the action side that the two OneBot faces (internal/onebot/v11 and v12)
// share: the call an action handler gets, the rows of the action table, the services the hub
// gives the handlers (Host), and the neutral actions written once for both faces (send a
// message, read one, mute, moderate, raw Matrix calls). It imports internal/face and
// internal/model, never the hub or storage, and never a face: each face imports it.
//
// The flow of an action: a transport of the hub decodes the request with the face's codec,
// runs it through the hub's middleware chain, which looks the action up in the table (the
// faces' rows: ob11.Actions, ob12.Actions) and calls its Handler with a Call.
package onebot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Host is what the hub gives action handlers: its services beyond the bot of the call.
type Host interface {
	// Impl is the implementation's name and version (get_version, get_version_info).
	Impl() (name, version string)
	// IDs is the persistent map of v11 numbers (nil when the gateway keeps none).
	IDs() face.Mapper
	// ResolveMedia takes in the files that media segments name by source and replaces each
	// source by the stored file's id (face.Host.ResolveMedia).
	ResolveMedia(ctx context.Context, segs []model.Segment) error
	// MediaOn tells whether the gateway takes in files.
	MediaOn() bool
	// Media is the gateway's file store and intake for the v12 file actions; nil when media is
	// not configured.
	Media() Media
	// Bots are the bots the call's connection sees (one when its token is limited to a bot),
	// the pending ones first.
	Bots(ctx context.Context) []face.Bot
	// Elsewhere are the bots other gateways of a cluster run (GATEWAY_CLUSTER), sorted: a
	// connection for every bot sees only this gateway's; nil outside a cluster and for a call
	// limited to one bot.
	Elsewhere(ctx context.Context) []string
	// BotCounters are a bot's metrics, by name.
	BotCounters(user string) map[string]float64
	// SupportedActions are one version's action names, sorted.
	SupportedActions(version int) []string
	// FromHTTP tells whether the call came over HTTP (not a WebSocket or a webhook reply).
	FromHTTP(ctx context.Context) bool
	// EventBuffer is the size of get_latest_events' buffer (0 = off).
	EventBuffer() int
	// LatestEvents serves get_latest_events: up to limit events (0 = all) of the bots the call
	// sees, waiting up to timeout for one.
	LatestEvents(ctx context.Context, limit int, timeout time.Duration) []json.RawMessage
	// Run runs another action of the same version as the call's bot, through the whole chain.
	Run(c *Call, name string, params json.RawMessage) (any, error)
}

// Media is the hub's media service as the v12 file actions use it (upload_file, get_file and
// their fragmented variants). Files are the gateway's, not one bot's.
type Media interface {
	// Files is the file store (stat, open, local path, signed URL).
	Files() model.Files
	// Fetch stores the file at an http(s) URL, sent with headers.
	Fetch(ctx context.Context, rawURL, name string, headers map[string]string) (model.FileInfo, error)
	// ReadLocalPath stores a file under GATEWAY_MEDIA_LOCAL_DIR.
	ReadLocalPath(ctx context.Context, path, name string) (model.FileInfo, error)
	// PutBase64 stores base64 text, decoded as it is stored.
	PutBase64(ctx context.Context, name, data string) (model.FileInfo, error)
	// PrepareUpload starts a fragmented upload of size bytes for the call's client (per-client
	// quotas) and gives its id.
	PrepareUpload(ctx context.Context, name string, size int64) (string, error)
	// TransferBase64 writes base64 data at offset of a fragmented upload (bad base64 is a
	// bad-param error).
	TransferBase64(id string, offset int64, data string) error
	// FinishUpload stores a fragmented upload whole, checking its sha256.
	FinishUpload(ctx context.Context, id, wantSHA256 string) (model.FileInfo, error)
}

// Call is one action invocation.
type Call struct {
	Ctx     context.Context
	Host    Host
	Version int       // 11 or 12
	Bot     model.Bot // nil for actions that need no bot
	SelfID  int64     // the bot's v11 self_id
	Params  json.RawMessage
}

// Handler runs one action: it returns the response data or an error that the face maps. It
// knows the Go types of its params and of its data, from which api/openapi.yaml is checked
// field by field (the hub's openapi_params_test.go).
type Handler struct {
	Run    func(c *Call) (any, error)
	Params reflect.Type // what the params are decoded into; nil when the action takes none
	Result reflect.Type // the data it answers; *NoData for null
}

// NoData is the result of an action that answers null data: its handler returns (*NoData)(nil).
type NoData struct{}

// data is a handler's result as response data: nil after an error and for *NoData.
func data[R any](r R, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if _, ok := any(r).(*NoData); ok {
		return nil, nil
	}
	return r, nil
}

// WithParams adapts a handler that takes its params decoded into P (a malformed value is a
// bad-param error before the handler runs) and answers R.
func WithParams[P, R any](fn func(c *Call, p P) (R, error)) Handler {
	return Handler{Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](), Run: func(c *Call) (any, error) {
		var p P
		if err := c.Decode(&p); err != nil {
			return nil, err
		}
		return data(fn(c, p))
	}}
}

// NoParams adapts a handler that takes no params and answers R.
func NoParams[R any](fn func(c *Call) (R, error)) Handler {
	return Handler{Result: reflect.TypeFor[R](), Run: func(c *Call) (any, error) { return data(fn(c)) }}
}

// DecodesOwn adapts a handler that decodes its params into P itself (c.Decode), after checks
// that come first, and answers R.
func DecodesOwn[P, R any](fn func(c *Call) (R, error)) Handler {
	return Handler{Params: reflect.TypeFor[P](), Result: reflect.TypeFor[R](), Run: func(c *Call) (any, error) { return data(fn(c)) }}
}

// Decode unmarshals the params into v; a malformed value is a bad-param error.
func (c *Call) Decode(v any) error {
	p := c.Params
	if len(bytes.TrimSpace(p)) == 0 || bytes.Equal(bytes.TrimSpace(p), []byte("null")) {
		p = []byte("{}")
	}
	if err := json.Unmarshal(p, v); err != nil {
		return ProtoErr(v12BadParam, v11BadRequest, "bad params: %v", err)
	}
	return nil
}

// Action is one row of the action table: dispatch, get_supported_actions and the OpenAPI check
// (api/openapi.yaml) all read the table and nothing else.
type Action struct {
	Version  int    // 11 or 12
	Name     string // the action name on the wire
	NeedsBot bool   // it acts as one bot (v12: chosen by `self`, or the only bot)
	Summary  string
	Handle   Handler
}

// Table is the action table: every face's rows, indexed.
type Table struct {
	rows  []Action
	index map[int]map[string]*Action
}

// NewTable indexes rows; an action listed twice is a bug (it panics).
func NewTable(rows ...[]Action) *Table {
	t := &Table{index: map[int]map[string]*Action{}}
	for _, rs := range rows {
		t.rows = append(t.rows, rs...)
	}
	for i := range t.rows {
		a := &t.rows[i]
		if t.index[a.Version] == nil {
			t.index[a.Version] = map[string]*Action{}
		}
		if _, dup := t.index[a.Version][a.Name]; dup {
			panic("onebot: action listed twice: " + a.Name)
		}
		t.index[a.Version][a.Name] = a
	}
	return t
}

// Rows are the table's rows, in order.
func (t *Table) Rows() []Action { return t.rows }

// Lookup is the action of a version by name, or nil.
func (t *Table) Lookup(version int, name string) *Action { return t.index[version][name] }

// Supported returns the names of one version's actions, sorted.
func (t *Table) Supported(version int) []string {
	var names []string
	for _, a := range t.rows {
		if a.Version == version {
			names = append(names, a.Name)
		}
	}
	sort.Strings(names)
	return names
}

// The retcodes a ProtoError made here carries (the same numbers as ob12.Ret… and ob11.Ret…; a
// test holds them equal).
const (
	v12UnsupportedAction = 10002
	v12BadParam          = 10003
	v12UnsupportedParam  = 10004
	v12WhoAmI            = 10101
	v12FileTooLarge      = 32001
	v11BadRequest        = 1400
	v11UnsupportedAction = 1404
)

// ProtoError is a failure that is the client's doing, with its code in each protocol.
type ProtoError struct {
	V12, V11 int
	Msg      string
}

func (e *ProtoError) Error() string { return e.Msg }

// V12Retcode and V11Retcode say the code in each protocol (ob12.Coded, ob11.Coded).
func (e *ProtoError) V12Retcode() int { return e.V12 }
func (e *ProtoError) V11Retcode() int { return e.V11 }

// ProtoErr is a ProtoError with codes v12 and v11.
func ProtoErr(v12, v11 int, format string, args ...any) *ProtoError {
	return &ProtoError{V12: v12, V11: v11, Msg: fmt.Sprintf(format, args...)}
}

// ErrUnsupportedAction: the action (or what it needs of the bot) is not there.
func ErrUnsupportedAction(format string, args ...any) *ProtoError {
	return ProtoErr(v12UnsupportedAction, v11UnsupportedAction, format, args...)
}

// ErrUnsupportedParam: a param's value is understood but not supported.
func ErrUnsupportedParam(format string, args ...any) *ProtoError {
	return ProtoErr(v12UnsupportedParam, v11BadRequest, format, args...)
}

// ErrFileTooLarge: a file exceeds GATEWAY_MEDIA_MAX_SIZE.
func ErrFileTooLarge(format string, args ...any) *ProtoError {
	return ProtoErr(v12FileTooLarge, v11BadRequest, format, args...)
}

// ErrWhoAmI: several bots are served and the request names none.
func ErrWhoAmI(format string, args ...any) *ProtoError {
	return ProtoErr(v12WhoAmI, v11BadRequest, format, args...)
}

// IsUnsupportedAction tells whether err is an unsupported action (v11's 1404).
func IsUnsupportedAction(err error) bool {
	var pe *ProtoError
	return errors.As(err, &pe) && pe.V11 == v11UnsupportedAction
}

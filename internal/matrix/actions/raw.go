package actions

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/matrix/crypt"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Raw serves a bot's raw access to the Client-Server API: room state, state events, and any
// call under /_matrix/client/.
type Raw struct {
	acct   *account.Account
	policy *crypt.Policy
}

var _ model.RawAPI = (*Raw)(nil)

// NewRaw returns the raw API of acct's bot; room events sent through it are encrypted by policy.
func NewRaw(acct *account.Account, policy *crypt.Policy) *Raw {
	return &Raw{acct: acct, policy: policy}
}

// RoomState implements model.RawAPI.
func (s *Raw) RoomState(ctx context.Context, room id.RoomID, evtType, stateKey string) (json.RawMessage, error) {
	if err := s.acct.Online(); err != nil {
		return nil, err
	}
	var out json.RawMessage
	var urlStr string
	if evtType == "" {
		urlStr = s.acct.Client().BuildClientURL("v3", "rooms", room, "state")
	} else {
		urlStr = s.acct.Client().BuildClientURL("v3", "rooms", room, "state", evtType, stateKey)
	}
	if _, err := s.acct.Client().MakeRequest(ctx, http.MethodGet, urlStr, nil, &out); err != nil {
		return nil, account.ActionError("failed to get room state", err)
	}
	return out, nil
}

// SendState implements model.RawAPI.
func (s *Raw) SendState(ctx context.Context, room id.RoomID, evtType, stateKey string, content json.RawMessage) (id.EventID, error) {
	if err := s.acct.Online(); err != nil {
		return "", err
	}
	t := event.Type{Type: evtType, Class: event.StateEventType}
	resp, err := s.acct.Client().SendStateEvent(ctx, room, t, stateKey, content) // also writes it to the state store
	if t == event.StateEncryption {
		account.NoteEncryptionWrite()
	}
	if err != nil {
		return "", account.ActionError("failed to send state event", err)
	}
	return resp.EventID, nil
}

// rawPathPrefix is the only part of the homeserver that matrix.raw_request may call.
const rawPathPrefix = "/_matrix/client/"

// checkRawRequest validates a raw request; the path must stay under /_matrix/client/.
func checkRawRequest(req model.RawRequest) (string, error) {
	method := strings.ToUpper(req.Method)
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
	default:
		return "", model.Errorf(model.ErrBadParam, "method must be GET, POST, PUT or DELETE, not %q", req.Method)
	}
	p := req.Path
	if !strings.HasPrefix(p, rawPathPrefix) {
		return "", model.Errorf(model.ErrBadParam, "path must start with %s", rawPathPrefix)
	}
	// Refuse anything that could leave the prefix once resolved: dot segments, encoded
	// slashes or dots, backslashes, a query or fragment smuggled in the path.
	lower := strings.ToLower(p)
	if strings.ContainsAny(p, "?#\\") || strings.Contains(lower, "%2f") || strings.Contains(lower, "%2e") || strings.Contains(lower, "%5c") {
		return "", model.Errorf(model.ErrBadParam, "path must be a plain path (no query, fragment, backslash or encoded separators): put query parameters in query")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", model.Errorf(model.ErrBadParam, "path must not contain . or .. segments")
		}
	}
	if len(req.Body) > 0 && !json.Valid(req.Body) {
		return "", model.Errorf(model.ErrBadParam, "body must be JSON")
	}
	return method, nil
}

// rawJoin recognises a raw request that joins a room: POST /_matrix/client/{version}/join/{room}
// or /rooms/{room}/join.
func rawJoin(method, path string) bool {
	if method != http.MethodPost {
		return false
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if p == "join" && i > 0 && (i+2 == len(parts) || i >= 2 && parts[i-2] == "rooms" && i+1 == len(parts)) {
			return true
		}
	}
	return false
}

// RawRequest implements model.RawAPI: one Client-Server call under /_matrix/client/ with
// the bot's token. A homeserver error status is returned as the response, not as an error.
func (s *Raw) RawRequest(ctx context.Context, req model.RawRequest) (model.RawResponse, error) {
	method, err := checkRawRequest(req)
	if err != nil {
		return model.RawResponse{}, err
	}
	if err := s.acct.Online(); err != nil {
		return model.RawResponse{}, err
	}
	// A room event sent this way is encrypted like any other (crypt.Policy): an encrypted
	// room gets m.room.encrypted, a room whose encryption state is unknown gets nothing.
	if req.Path, req.Body, err = s.policy.EncryptRaw(ctx, method, req.Path, req.Body); err != nil {
		return model.RawResponse{}, err
	}
	u, err := url.Parse(s.acct.Client().HomeserverURL.String())
	if err != nil {
		return model.RawResponse{}, err
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + req.Path
	q := url.Values{}
	for k, v := range req.Query {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	var body any
	if len(req.Body) > 0 {
		body = req.Body
	} else if method == http.MethodPost || method == http.MethodPut {
		body = json.RawMessage("{}")
	}
	data, resp, err := s.acct.Client().MakeFullRequestWithResp(ctx, mautrix.FullRequest{
		Method: method, URL: u.String(), RequestJSON: body, MaxAttempts: 1,
	})
	if rawJoin(method, req.Path) {
		// As after JoinRoom: the room (maybe named by an alias) may have become encrypted while
		// the bot was out of it, and the sync has not shown the join yet.
		s.policy.ForgetAll()
	}
	var httpErr mautrix.HTTPError
	switch {
	case err == nil:
	case errors.As(err, &httpErr) && httpErr.Response != nil:
		// An error status: mautrix returns the body it read (errcode, error) as data and
		// leaves HTTPError.ResponseBody empty.
		resp = httpErr.Response
		if len(data) == 0 {
			data = []byte(httpErr.ResponseBody)
		}
	default:
		return model.RawResponse{}, account.ActionError("raw request failed", err)
	}
	out := model.RawResponse{Status: resp.StatusCode, Body: json.RawMessage(data)}
	if !json.Valid(data) {
		raw, _ := json.Marshal(string(data))
		out.Body = raw
	}
	return out, nil
}

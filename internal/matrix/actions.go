package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// The model.RoomActions of a Session: each is one or a few Client-Server API calls, and every
// refusal comes back through actionError with the Matrix errcode.

// online fails when the bot has no working session.
func (s *Session) online() error {
	if st := s.Status(); !st.Online() && st.State != model.StateStarting {
		return &model.ActionError{Kind: model.ErrBotOffline, Message: "bot is offline: " + st.Reason}
	}
	return nil
}

// roomOf returns room, or the room of an indexed message when room is "".
func (s *Session) roomOf(ctx context.Context, room id.RoomID, msg id.EventID) (id.RoomID, error) {
	if room != "" {
		return room, nil
	}
	m, err := s.opts.DB.GetMessage(ctx, string(s.UserID()), string(msg))
	if errors.Is(err, storage.ErrNotFound) {
		return "", model.Errorf(model.ErrNotFound, "message %s is unknown to the gateway: give its room (group_id) too", msg)
	} else if err != nil {
		return "", err
	}
	return id.RoomID(m.RoomID), nil
}

// DeleteMessage implements model.RoomActions: it redacts the message.
func (s *Session) DeleteMessage(ctx context.Context, room id.RoomID, msg id.EventID, reason string) error {
	if err := s.online(); err != nil {
		return err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return err
	}
	if err := s.redactEvent(ctx, room, msg, reason); err != nil {
		return actionError("failed to delete message", err)
	}
	if err := s.opts.DB.MarkRedacted(ctx, string(s.UserID()), string(msg)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("failed to mark message redacted", "event_id", msg, "error", err)
	}
	return nil
}

// React implements model.RoomActions: an m.reaction annotation, sent through sendEvent;
// unencrypted (as Element sends them) unless opts or GATEWAY_ENCRYPT_REACTIONS ask otherwise.
func (s *Session) React(ctx context.Context, room id.RoomID, msg id.EventID, key string, opts model.ReactOptions) (model.Sent, error) {
	txnID := s.client.TxnID()
	if idem := opts.Idempotency; idem != nil { // idempotency.go
		unlock := s.sendKeys.lock(idem.Key)
		defer unlock()
		rec, err := s.claimKey(ctx, *idem)
		if err != nil {
			return model.Sent{}, err
		}
		if rec.Done() {
			return sentOf(rec), nil
		}
		txnID = rec.TxnID
	}
	if err := s.online(); err != nil {
		return model.Sent{}, err
	}
	room, err := s.roomOf(ctx, room, msg)
	if err != nil {
		return model.Sent{}, err
	}
	content := &event.ReactionEventContent{RelatesTo: event.RelatesTo{Type: event.RelAnnotation, EventID: msg, Key: key}}
	encrypt := s.opts.EncryptReactions
	if opts.Encrypted != nil {
		encrypt = *opts.Encrypted
	}
	evtID, err := s.sendEventTxn(ctx, room, event.EventReaction, content, encrypt, txnID)
	if err != nil {
		return model.Sent{}, actionError("failed to react", err)
	}
	sent := model.Sent{EventID: evtID, RoomID: room, Time: time.Now()}
	if opts.Idempotency != nil {
		s.finishKey(ctx, *opts.Idempotency, sent)
	}
	return sent, nil
}

// UserInfo implements model.RoomActions from the user's global profile.
func (s *Session) UserInfo(ctx context.Context, u id.UserID) (model.UserInfo, error) {
	if err := s.online(); err != nil {
		return model.UserInfo{}, err
	}
	p, err := s.client.GetProfile(ctx, u)
	if err != nil {
		return model.UserInfo{}, actionError("failed to get the profile of "+string(u), err)
	}
	return model.UserInfo{UserID: u, DisplayName: p.DisplayName, AvatarURL: p.AvatarURL.String()}, nil
}

// Friends implements model.RoomActions: the users the bot has a direct room with (m.direct) that
// the bot is still in.
func (s *Session) Friends(ctx context.Context) ([]model.Friend, error) {
	s.directMu.RLock()
	users := make([]id.UserID, 0, len(s.direct.users))
	for u := range s.direct.users {
		users = append(users, u)
	}
	s.directMu.RUnlock()
	slices.Sort(users)
	out := []model.Friend{}
	for _, u := range users {
		room := s.directRoomWith(ctx, u)
		if room == "" {
			continue
		}
		out = append(out, model.Friend{UserID: u, DisplayName: s.memberName(ctx, room, u), RoomID: room})
	}
	return out, nil
}

// Groups implements model.RoomActions: the joined rooms that are not direct chats.
func (s *Session) Groups(ctx context.Context) ([]model.GroupInfo, error) {
	if err := s.online(); err != nil {
		return nil, err
	}
	resp, err := s.client.JoinedRooms(ctx)
	if err != nil {
		return nil, actionError("failed to list rooms", err)
	}
	out := []model.GroupInfo{}
	for _, room := range resp.JoinedRooms {
		if s.isDirect(room) {
			continue
		}
		g, err := s.Group(ctx, room)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Group implements model.RoomActions.
func (s *Session) Group(ctx context.Context, room id.RoomID) (model.GroupInfo, error) {
	if err := s.online(); err != nil {
		return model.GroupInfo{}, err
	}
	members, err := s.client.JoinedMembers(ctx, room)
	if err != nil {
		return model.GroupInfo{}, actionError("failed to get room "+string(room), err)
	}
	return model.GroupInfo{RoomID: room, Name: s.roomName(ctx, room), MemberCount: len(members.Joined)}, nil
}

// roomName is m.room.name, else the canonical alias, else "".
func (s *Session) roomName(ctx context.Context, room id.RoomID) string {
	var name event.RoomNameEventContent
	if err := s.client.StateEvent(ctx, room, event.StateRoomName, "", &name); err == nil && name.Name != "" {
		return name.Name
	}
	var alias event.CanonicalAliasEventContent
	if err := s.client.StateEvent(ctx, room, event.StateCanonicalAlias, "", &alias); err == nil {
		return string(alias.Alias)
	}
	return ""
}

// SetGroupName implements model.RoomActions.
func (s *Session) SetGroupName(ctx context.Context, room id.RoomID, name string) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.SendStateEvent(ctx, room, event.StateRoomName, "", &event.RoomNameEventContent{Name: name}); err != nil {
		return actionError("failed to rename room", err)
	}
	return nil
}

// LeaveGroup implements model.RoomActions.
func (s *Session) LeaveGroup(ctx context.Context, room id.RoomID) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.LeaveRoom(ctx, room); err != nil {
		return actionError("failed to leave room", err)
	}
	return nil
}

// Kick implements model.RoomActions.
func (s *Session) Kick(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.KickUser(ctx, room, &mautrix.ReqKickUser{UserID: u, Reason: reason}); err != nil {
		return actionError("failed to kick "+string(u), err)
	}
	return nil
}

// Ban implements model.RoomActions. A Matrix ban lasts until it is lifted.
func (s *Session) Ban(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.BanUser(ctx, room, &mautrix.ReqBanUser{UserID: u, Reason: reason}); err != nil {
		return actionError("failed to ban "+string(u), err)
	}
	return nil
}

// Unban implements model.RoomActions.
func (s *Session) Unban(ctx context.Context, room id.RoomID, u id.UserID) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.UnbanUser(ctx, room, &mautrix.ReqUnbanUser{UserID: u}); err != nil {
		return actionError("failed to unban "+string(u), err)
	}
	return nil
}

// AnswerInvite implements model.RoomActions: join to accept, leave to decline.
func (s *Session) AnswerInvite(ctx context.Context, room id.RoomID, accept bool, reason string) error {
	if err := s.online(); err != nil {
		return err
	}
	if accept {
		s.forgetEncryption(room)
		if _, err := s.client.JoinRoomByID(ctx, room); err != nil {
			return actionError("failed to accept the invite to "+string(room), err)
		}
		s.afterJoin(ctx, room)
		return nil
	}
	if _, err := s.client.LeaveRoom(ctx, room, &mautrix.ReqLeave{Reason: reason}); err != nil {
		return actionError("failed to decline the invite to "+string(room), err)
	}
	return nil
}

// afterJoin records a room joined by invite as direct when the invite said so.
func (s *Session) afterJoin(ctx context.Context, room id.RoomID) {
	s.invitesMu.Lock()
	inv := s.pending[room]
	delete(s.pending, room)
	s.invitesMu.Unlock()
	if inv.Direct && inv.Inviter != "" {
		if err := s.addDirect(ctx, inv.Inviter, room); err != nil {
			s.log.Warn("failed to mark room as direct", "room_id", room, "error", err)
		}
	}
}

// SetTyping implements model.RoomActions.
func (s *Session) SetTyping(ctx context.Context, room id.RoomID, typing bool, timeout time.Duration) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.UserTyping(ctx, room, typing, timeout); err != nil {
		return actionError("failed to set typing", err)
	}
	return nil
}

// MarkRead implements model.RoomActions: a public read receipt and the fully-read marker.
func (s *Session) MarkRead(ctx context.Context, room id.RoomID, msg id.EventID) error {
	if err := s.online(); err != nil {
		return err
	}
	if err := s.client.MarkRead(ctx, room, msg); err != nil {
		return actionError("failed to mark read", err)
	}
	return nil
}

// JoinRoom implements model.RoomActions.
func (s *Session) JoinRoom(ctx context.Context, roomOrAlias string) (id.RoomID, error) {
	if err := s.online(); err != nil {
		return "", err
	}
	resp, err := s.client.JoinRoom(ctx, roomOrAlias, nil)
	if err != nil {
		return "", actionError("failed to join "+roomOrAlias, err)
	}
	s.forgetEncryption(resp.RoomID)
	s.afterJoin(ctx, resp.RoomID)
	return resp.RoomID, nil
}

// Invite implements model.RoomActions.
func (s *Session) Invite(ctx context.Context, room id.RoomID, u id.UserID, reason string) error {
	if err := s.online(); err != nil {
		return err
	}
	if _, err := s.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: u, Reason: reason}); err != nil {
		return actionError("failed to invite "+string(u), err)
	}
	return nil
}

// CreateRoom implements model.RoomActions; a direct room is recorded in m.direct. The room is
// encrypted when req.Encrypted says so, by default when the bot does end-to-end encryption.
func (s *Session) CreateRoom(ctx context.Context, req model.CreateRoom) (id.RoomID, error) {
	encrypted := s.encryptsNewRooms()
	if req.Encrypted != nil {
		if *req.Encrypted && !encrypted {
			return "", model.Errorf(model.ErrBadParam, "encrypted is true, but end-to-end encryption is off for this bot "+
				"(e2ee is false in MATRIX_BOTS, or its access token has no device ID): it could not read or send in that room; "+
				"turn e2ee on, or leave encrypted out")
		}
		encrypted = *req.Encrypted
	}
	if err := s.online(); err != nil {
		return "", err
	}
	create := &mautrix.ReqCreateRoom{
		Name: req.Name, Topic: req.Topic, RoomAliasName: req.Alias, Invite: req.Invite,
		IsDirect: req.IsDirect, Preset: req.Preset, Visibility: req.Visibility,
	}
	if encrypted {
		create.InitialState = []*event.Event{encryptionState()}
	}
	resp, err := s.client.CreateRoom(ctx, create)
	if err != nil {
		return "", actionError("failed to create room", err)
	}
	if req.IsDirect && len(req.Invite) == 1 {
		if err := s.addDirect(ctx, req.Invite[0], resp.RoomID); err != nil {
			s.log.Warn("failed to record direct room", "room_id", resp.RoomID, "error", err)
		}
	}
	return resp.RoomID, nil
}

// RoomState implements model.RoomActions.
func (s *Session) RoomState(ctx context.Context, room id.RoomID, evtType, stateKey string) (json.RawMessage, error) {
	if err := s.online(); err != nil {
		return nil, err
	}
	var out json.RawMessage
	var urlStr string
	if evtType == "" {
		urlStr = s.client.BuildClientURL("v3", "rooms", room, "state")
	} else {
		urlStr = s.client.BuildClientURL("v3", "rooms", room, "state", evtType, stateKey)
	}
	if _, err := s.client.MakeRequest(ctx, http.MethodGet, urlStr, nil, &out); err != nil {
		return nil, actionError("failed to get room state", err)
	}
	return out, nil
}

// SendState implements model.RoomActions.
func (s *Session) SendState(ctx context.Context, room id.RoomID, evtType, stateKey string, content json.RawMessage) (id.EventID, error) {
	if err := s.online(); err != nil {
		return "", err
	}
	t := event.Type{Type: evtType, Class: event.StateEventType}
	resp, err := s.client.SendStateEvent(ctx, room, t, stateKey, content)
	if err != nil {
		return "", actionError("failed to send state event", err)
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

// RawRequest implements model.RoomActions: one Client-Server call under /_matrix/client/ with
// the bot's token. A homeserver error status is returned as the response, not as an error.
func (s *Session) RawRequest(ctx context.Context, req model.RawRequest) (model.RawResponse, error) {
	method, err := checkRawRequest(req)
	if err != nil {
		return model.RawResponse{}, err
	}
	if err := s.online(); err != nil {
		return model.RawResponse{}, err
	}
	// A room event sent this way is encrypted like any other (encryption.go): an encrypted
	// room gets m.room.encrypted, a room whose encryption state is unknown gets nothing.
	if req.Path, req.Body, err = s.encryptRaw(ctx, method, req.Path, req.Body); err != nil {
		return model.RawResponse{}, err
	}
	u, err := url.Parse(s.client.HomeserverURL.String())
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
	data, resp, err := s.client.MakeFullRequestWithResp(ctx, mautrix.FullRequest{
		Method: method, URL: u.String(), RequestJSON: body, MaxAttempts: 1,
	})
	if rawJoin(method, req.Path) {
		// As after JoinRoom: the room (maybe named by an alias) may have become encrypted while
		// the bot was out of it, and the sync has not shown the join yet.
		s.encState.Clear()
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
		return model.RawResponse{}, actionError("raw request failed", err)
	}
	out := model.RawResponse{Status: resp.StatusCode, Body: json.RawMessage(data)}
	if !json.Valid(data) {
		raw, _ := json.Marshal(string(data))
		out.Body = raw
	}
	return out, nil
}

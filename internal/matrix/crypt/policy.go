// Package crypt is a bot's end-to-end encryption glue: its device (the e2ee machine, set up
// after login and recovered after a lost store; Device) and the decision of what it sends
// encrypted (Policy).
package crypt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Whether an event the bot sends must be encrypted is decided here, and it is never guessed.
// The state store knows the rooms whose m.room.encryption the sync has delivered; right after a
// join, an accepted invite or a room the bot created, the sync may not have delivered it yet, so
// the homeserver is asked for the room's m.room.encryption state event: 404 M_NOT_FOUND means the
// room is not encrypted, and any other failure refuses the send. Nothing goes out in plaintext
// into a room whose encryption state is unknown.

// Policy decides, for each event a bot sends, whether it goes out encrypted, and encrypts it.
type Policy struct {
	acct             *account.Account
	device           *Device
	encryptReactions bool // GATEWAY_ENCRYPT_REACTIONS, for raw sends

	// encState caches, per room, the m.room.encryption algorithm read from the homeserver ("" =
	// not encrypted) for rooms the state store has no encryption event for. A join forgets the
	// room's entry.
	encState sync.Map
}

// NewPolicy returns the encryption policy of acct's bot, which encrypts with device.
// encryptReactions is GATEWAY_ENCRYPT_REACTIONS (raw sends of reactions follow it).
func NewPolicy(acct *account.Account, device *Device, encryptReactions bool) *Policy {
	return &Policy{acct: acct, device: device, encryptReactions: encryptReactions}
}

// ErrEncryptionUnknown marks a send refused because the room's encryption state could not be
// learned.
var ErrEncryptionUnknown = errors.New("encryption state unknown")

// learnEncryption tells whether events sent to room must be encrypted (the room has
// m.room.encryption with Megolm). A room with an algorithm the gateway cannot encrypt with, and
// a room whose state cannot be read, are errors: the caller must not send.
func (s *Policy) learnEncryption(ctx context.Context, room id.RoomID) (bool, error) {
	if s.acct.StateStore != nil {
		alg, err := s.acct.StoredEncryption(ctx, room)
		if err != nil {
			return false, &model.ActionError{Kind: model.ErrInternal, Err: fmt.Errorf("%w: %w", ErrEncryptionUnknown, err),
				Message: fmt.Sprintf("refusing to send to %s: failed to read whether it is encrypted from the database, so nothing was sent", room)}
		}
		if alg != "" {
			return megolm(room, alg)
		}
	}
	if v, ok := s.encState.Load(room); ok { // asked before; "" = not encrypted
		if alg := v.(id.Algorithm); alg != "" {
			return megolm(room, alg)
		}
		return false, nil
	}
	var content event.EncryptionEventContent
	err := s.acct.Client().StateEvent(ctx, room, event.StateEncryption, "", &content) // also updates the state store
	if isStateNotFound(err) {
		s.encState.Store(room, id.Algorithm(""))
		s.acct.Log().Debug("room is not encrypted (no m.room.encryption)", "room_id", room)
		return false, nil
	} else if err != nil {
		return false, account.Refusal(fmt.Sprintf("refusing to send to %s: failed to learn whether the room is encrypted (its m.room.encryption state), so nothing was sent", room),
			fmt.Errorf("%w: %w", ErrEncryptionUnknown, err))
	}
	if s.acct.StateStore != nil {
		if err := s.acct.StateStore.SetEncryptionEvent(ctx, room, &content); err != nil {
			s.acct.Log().Warn("failed to store the encryption state of a room", "room_id", room, "error", err)
		}
		account.NoteEncryptionWrite()
	}
	s.encState.Store(room, content.Algorithm)
	s.acct.Log().Debug("room is encrypted (m.room.encryption read from the homeserver)", "room_id", room, "algorithm", content.Algorithm)
	return megolm(room, content.Algorithm)
}

// isStateNotFound tells whether err is the homeserver saying that a state event does not exist:
// 404 with M_NOT_FOUND (a 404 without it, e.g. M_UNRECOGNIZED from a proxy, says nothing).
func isStateNotFound(err error) bool {
	var httpErr mautrix.HTTPError
	return errors.As(err, &httpErr) && httpErr.Response != nil && httpErr.Response.StatusCode == http.StatusNotFound &&
		errors.Is(err, mautrix.MNotFound)
}

func megolm(room id.RoomID, alg id.Algorithm) (bool, error) {
	if alg == id.AlgorithmMegolmV1 {
		return true, nil
	}
	return false, &model.ActionError{Kind: model.ErrPlatform,
		Message: fmt.Sprintf("refusing to send to %s: the room is encrypted with %q, which the gateway cannot encrypt with (only %s), so nothing was sent", room, alg, id.AlgorithmMegolmV1)}
}

// MustEncrypt tells whether an event of evtType sent to room goes out encrypted. Reactions go
// unencrypted unless encryptReaction (as Element sends them: encrypted reactions count as unread
// messages in other clients); an already encrypted event is sent as it is. An encrypted room
// that this bot cannot encrypt for is an error, never a plaintext send.
func (s *Policy) MustEncrypt(ctx context.Context, room id.RoomID, evtType event.Type, encryptReaction bool) (bool, error) {
	if evtType == event.EventEncrypted || evtType == event.EventReaction && !encryptReaction {
		return false, nil
	}
	enc, err := s.learnEncryption(ctx, room)
	if err != nil || !enc {
		return false, err
	}
	if s.device.Machine() == nil {
		if s.device.Enabled() {
			return false, &model.ActionError{Kind: model.ErrBotOffline,
				Message: fmt.Sprintf("refusing to send to %s: the room is encrypted and the bot's end-to-end encryption is not ready yet; try again", room)}
		}
		return false, &model.ActionError{Kind: model.ErrPlatform,
			Message: fmt.Sprintf("refusing to send to %s: the room is encrypted, but end-to-end encryption is off for this bot "+
				"(e2ee is false in MATRIX_BOTS, or its access token has no device ID), so nothing was sent", room)}
	}
	return true, nil
}

// encrypt encrypts content for room, first loading the room's members when the state store has
// not got them (right after a join, the sync has not told who is in the room): the room key is
// shared with the joined and invited members, and a key shared with nobody makes a message that
// nobody can read.
func (s *Policy) encrypt(ctx context.Context, room id.RoomID, evtType event.Type, content any) (*event.EncryptedEventContent, error) {
	if s.acct.StateStore != nil {
		fetched, err := s.acct.StateStore.HasFetchedMembers(ctx, room)
		if err != nil {
			return nil, fmt.Errorf("failed to read whether the members of %s are known: %w", room, err)
		}
		if !fetched {
			if _, err := s.acct.Client().Members(ctx, room); err != nil { // stores them and marks them fetched
				return nil, account.Refusal("refusing to send to "+string(room)+": failed to load its members, whom the room key must reach, so nothing was sent", err)
			}
		}
	}
	encrypted, err := s.device.Machine().Encrypt(ctx, room, evtType, content)
	if err != nil {
		return nil, fmt.Errorf("failed to encrypt the event: %w", err)
	}
	return encrypted, nil
}

// rawRoomSend recognises a raw request that sends a room event: PUT (or POST)
// /_matrix/client/{version}/rooms/{room}/send/{type}[/{txn}], in any version. It returns the
// room, the event type and the index of the type among the path's "/"-separated parts.
func rawRoomSend(method, path string) (room id.RoomID, evtType string, typeAt int, ok bool, err error) {
	if method != http.MethodPut && method != http.MethodPost {
		return "", "", 0, false, nil
	}
	parts := strings.Split(path, "/")
	for i := 0; i+3 < len(parts); i++ {
		if parts[i] != "rooms" || parts[i+2] != "send" {
			continue
		}
		r, err1 := url.PathUnescape(parts[i+1])
		t, err2 := url.PathUnescape(parts[i+3])
		if err1 != nil || err2 != nil || r == "" || t == "" || slices.Contains(parts[i+4:], "") {
			return "", "", 0, false, model.Errorf(model.ErrBadParam, "a room send path must be /_matrix/client/v3/rooms/{room}/send/{type}/{txn}, with no empty or malformed parts")
		}
		return id.RoomID(r), t, i + 3, true, nil
	}
	return "", "", 0, false, nil
}

// EncryptRaw turns a raw room send into its encrypted form when the room needs it: the path gets
// m.room.encrypted as event type (same transaction ID and query) and the body the ciphertext.
// Anything else goes out as it is.
func (s *Policy) EncryptRaw(ctx context.Context, method, path string, body json.RawMessage) (string, json.RawMessage, error) {
	room, evtType, at, ok, err := rawRoomSend(method, path)
	if err != nil || !ok {
		return path, body, err
	}
	t := event.Type{Type: evtType, Class: event.MessageEventType}
	encrypt, err := s.MustEncrypt(ctx, room, t, s.encryptReactions)
	if err != nil || !encrypt {
		return path, body, err
	}
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	encrypted, err := s.encrypt(ctx, room, t, body)
	if err != nil {
		return "", nil, err
	}
	newBody, err := json.Marshal(encrypted)
	if err != nil {
		return "", nil, err
	}
	parts := strings.Split(path, "/")
	parts[at] = event.EventEncrypted.Type
	return strings.Join(parts, "/"), newBody, nil
}

// EncryptionState is the m.room.encryption initial state of a new encrypted room (Megolm, with
// the spec's default rotation, as Element sets it).
func EncryptionState() *event.Event {
	return &event.Event{
		Type: event.StateEncryption, StateKey: new(""),
		Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
	}
}

// Forget drops what the homeserver said about room's encryption: after a join the room may have
// become encrypted while the bot was not in it, and the next send asks again (unless the sync
// has delivered m.room.encryption by then).
func (s *Policy) Forget(room id.RoomID) { s.encState.Delete(room) }

// ForgetAll is Forget for every room (after a join whose room the caller cannot name).
func (s *Policy) ForgetAll() { s.encState.Clear() }

// Transmit sends one room event at once (send.Transmit: the send queue calls it for each
// attempt): encrypted when the room is encrypted (MustEncrypt decides, asking the homeserver when
// the state store does not know), except reactions unless encryptReaction. m.relates_to stays
// outside the ciphertext, as the spec requires, so relations still work. Redactions are not
// encrypted (the spec has no encrypted redaction): use client.RedactEvent.
func (s *Policy) Transmit(ctx context.Context, room id.RoomID, evtType event.Type, content any, encryptReaction bool, req mautrix.ReqSendEvent) (*mautrix.RespSendEvent, error) {
	encrypt, err := s.MustEncrypt(ctx, room, evtType, encryptReaction)
	if err != nil {
		return nil, err
	}
	req.DontEncrypt = true // decided above; mautrix must not decide again from its own view
	if !encrypt {
		return s.acct.Client().SendMessageEvent(ctx, room, evtType, content, req)
	}
	encrypted, err := s.encrypt(ctx, room, evtType, content)
	if err != nil {
		return nil, err
	}
	return s.acct.Client().SendMessageEvent(ctx, room, event.EventEncrypted, encrypted, req)
}

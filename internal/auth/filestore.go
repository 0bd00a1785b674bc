package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"maunium.net/go/mautrix/id"
)

// FileStore is MATRIX_TOKEN_STORE_PATH: nonebot-adapter-matrix's JSON token store, so users
// coming from it keep their sessions. The file is one JSON object; each key is itself a JSON
// object {"homeserver": …, "user_id": …} written as text, each value a fileEntry. Entries of
// other bots are kept as they are. Every change rewrites the file atomically with mode 0600.
type FileStore struct {
	Path string
	mu   sync.Mutex // one writer per process; the file is replaced, never edited in place
}

var _ Store = (*FileStore)(nil)

// fileEntry is one bot's value in the file; absent values are null, as the seed writes them.
type fileEntry struct {
	AccessToken            *string `json:"access_token"`
	RefreshToken           *string `json:"refresh_token"`
	AccessTokenExpiresAtMS *int64  `json:"access_token_expires_at_ms"`
	DeviceID               *string `json:"device_id"`
	SessionType            *string `json:"session_type"`
	OAuthTokenEndpoint     *string `json:"oauth_token_endpoint"`
	OAuthClientID          *string `json:"oauth_client_id"`
}

// fileKey is a decoded entry key.
type fileKey struct {
	Homeserver string `json:"homeserver"`
	UserID     string `json:"user_id"`
}

// encodeFileKey renders a key the way Python's json.dumps(sort_keys=True, ensure_ascii=False)
// does, so the seed finds the entries the gateway writes.
func encodeFileKey(homeserver string, user id.UserID) string {
	return `{"homeserver": ` + jsonString(strings.TrimRight(homeserver, "/")) + `, "user_id": ` + jsonString(string(user)) + `}`
}

func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

// decodeTokenFile parses the store file. A missing or empty file is an empty store.
func decodeTokenFile(data []byte) (map[string]json.RawMessage, error) {
	entries := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return entries, nil
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("not a JSON object of bot entries: %w", err)
	}
	if entries == nil { // the file holds null
		entries = map[string]json.RawMessage{}
	}
	return entries, nil
}

func (s *FileStore) read() (map[string]json.RawMessage, error) {
	data, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]json.RawMessage{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("failed to read token store %s: %w", s.Path, err)
	}
	entries, err := decodeTokenFile(data)
	if err != nil {
		return nil, fmt.Errorf("failed to read token store %s: %w; fix or remove the file (MATRIX_TOKEN_STORE_PATH)", s.Path, err)
	}
	return entries, nil
}

// findEntry picks the bot's entry: same homeserver and the configured user (user_id or
// login_user), or, with neither configured, the homeserver's only entry.
func findEntry(entries map[string]json.RawMessage, k Key) (key string, user id.UserID, e fileEntry, ok bool, err error) {
	var candidates []string
	users := map[string]id.UserID{}
	for raw := range entries {
		var fk fileKey
		if json.Unmarshal([]byte(raw), &fk) != nil || strings.TrimRight(fk.Homeserver, "/") != k.Homeserver {
			continue
		}
		u := id.UserID(fk.UserID)
		if k.UserID == "" && k.LoginUser == "" || k.matchesUser(u) {
			candidates = append(candidates, raw)
			users[raw] = u
		}
	}
	switch len(candidates) {
	case 0:
		return "", "", fileEntry{}, false, nil
	case 1:
	default:
		sort.Strings(candidates)
		return "", "", fileEntry{}, false, fmt.Errorf("the token store holds %d sessions on %s and the bot names no user; set user_id or login_user", len(candidates), k.Homeserver)
	}
	key = candidates[0]
	if err := json.Unmarshal(entries[key], &e); err != nil {
		return "", "", fileEntry{}, false, fmt.Errorf("the token store entry %s is malformed: %w", key, err)
	}
	return key, users[key], e, true, nil
}

// Load implements Store.
func (s *FileStore) Load(_ context.Context, k Key) (Tokens, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.read()
	if err != nil {
		return Tokens{}, false, err
	}
	_, user, e, ok, err := findEntry(entries, k)
	if err != nil || !ok {
		return Tokens{}, false, err
	}
	t := Tokens{
		UserID: user, AccessToken: deref(e.AccessToken), RefreshToken: deref(e.RefreshToken),
		DeviceID: id.DeviceID(deref(e.DeviceID)), Type: SessionType(deref(e.SessionType)),
		OAuthTokenEndpoint: deref(e.OAuthTokenEndpoint), OAuthClientID: deref(e.OAuthClientID),
	}
	if e.AccessTokenExpiresAtMS != nil {
		t.ExpiresAt = expiresAtFromMS(*e.AccessTokenExpiresAtMS)
	}
	return t, true, nil
}

// Save implements Store. The session must name its user.
func (s *FileStore) Save(_ context.Context, k Key, t Tokens) error {
	if t.UserID == "" {
		return errors.New("failed to write token store: the session's user ID is not known yet")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.read()
	if err != nil {
		return err
	}
	// An entry found through login_user under another key is replaced, not duplicated.
	if old, _, _, ok, _ := findEntry(entries, Key{Homeserver: k.Homeserver, UserID: t.UserID}); ok {
		delete(entries, old)
	}
	e := fileEntry{
		AccessToken: nonEmpty(t.AccessToken), RefreshToken: nonEmpty(t.RefreshToken), DeviceID: nonEmpty(string(t.DeviceID)),
		SessionType: nonEmpty(string(t.Type)), OAuthTokenEndpoint: nonEmpty(t.OAuthTokenEndpoint), OAuthClientID: nonEmpty(t.OAuthClientID),
	}
	if ms := t.expiresAtMS(); ms > 0 {
		e.AccessTokenExpiresAtMS = &ms
	}
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false) // as Python's json.dumps
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("failed to encode token store entry: %w", err)
	}
	entries[encodeFileKey(k.Homeserver, t.UserID)] = bytes.TrimSpace(raw.Bytes())
	return s.write(entries)
}

// Delete implements Store.
func (s *FileStore) Delete(_ context.Context, k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.read()
	if err != nil {
		return err
	}
	key, _, _, ok, err := findEntry(entries, k)
	if err != nil || !ok {
		return err
	}
	delete(entries, key)
	return s.write(entries)
}

// write replaces the file: a temporary file (mode 0600) in the same directory, synced, then
// renamed over the old one, so a crash leaves either the old or the new store.
func (s *FileStore) write(entries map[string]json.RawMessage) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(entries); err != nil { // map keys are sorted, as sort_keys=True does
		return fmt.Errorf("failed to encode token store: %w", err)
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create token store directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.Path)+".*.tmp") // created with mode 0600
	if err != nil {
		return fmt.Errorf("failed to write token store: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("failed to write token store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("failed to write token store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write token store: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("failed to replace token store %s: %w", s.Path, err)
	}
	return nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

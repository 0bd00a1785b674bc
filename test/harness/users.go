package harness

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// ErrUserExists is returned (wrapped) by RegisterUser for a taken localpart.
var ErrUserExists = errors.New("user already exists")

// User is a Matrix account with a logged-in device.
type User struct {
	UserID      string `json:"user_id"`
	AccessToken string `json:"access_token"`
	DeviceID    string `json:"device_id"`
	Password    string `json:"password"`
}

// matrixError is the error body of the Matrix APIs.
type matrixError struct {
	ErrCode string `json:"errcode"`
	Error   string `json:"error"`
}

// RegisterUser creates an account through the shared-secret registration API
// (/_synapse/admin/v1/register) and returns it with a fresh device.
func (hs *Homeserver) RegisterUser(ctx context.Context, localpart, password string, admin bool) (*User, error) {
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := hs.doJSON(ctx, http.MethodGet, "/_synapse/admin/v1/register", nil, &nonce); err != nil {
		return nil, fmt.Errorf("failed to get registration nonce: %w", err)
	}
	mac := hmac.New(sha1.New, []byte(hs.secret))
	adminWord := "notadmin"
	if admin {
		adminWord = "admin"
	}
	mac.Write([]byte(nonce.Nonce + "\x00" + localpart + "\x00" + password + "\x00" + adminWord))
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": localpart,
		"password": password,
		"admin":    admin,
		"mac":      hex.EncodeToString(mac.Sum(nil)),
	}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if err := hs.doJSON(ctx, http.MethodPost, "/_synapse/admin/v1/register", req, &resp); err != nil {
		return nil, fmt.Errorf("failed to register %s: %w", localpart, err)
	}
	return &User{UserID: resp.UserID, AccessToken: resp.AccessToken, DeviceID: resp.DeviceID, Password: password}, nil
}

// RegisterUniqueUser registers a user named prefix-<random> (handy when
// several tests share one homeserver).
func (hs *Homeserver) RegisterUniqueUser(ctx context.Context, prefix string) (*User, error) {
	return hs.RegisterUser(ctx, prefix+"-"+randomHex(4), "pw-"+randomHex(8), false)
}

// Login logs an existing user in with a password, creating a new device.
func (hs *Homeserver) Login(ctx context.Context, localpart, password string) (*User, error) {
	req := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	var resp struct {
		UserID      string `json:"user_id"`
		AccessToken string `json:"access_token"`
		DeviceID    string `json:"device_id"`
	}
	if err := hs.doJSON(ctx, http.MethodPost, "/_matrix/client/v3/login", req, &resp); err != nil {
		return nil, fmt.Errorf("failed to log in as %s: %w", localpart, err)
	}
	return &User{UserID: resp.UserID, AccessToken: resp.AccessToken, DeviceID: resp.DeviceID, Password: password}, nil
}

// EnsureUser registers the user, or logs in with the password if the account
// already exists (for example in a reused homeserver directory).
func (hs *Homeserver) EnsureUser(ctx context.Context, localpart, password string, admin bool) (*User, error) {
	u, err := hs.RegisterUser(ctx, localpart, password, admin)
	if errors.Is(err, ErrUserExists) {
		return hs.Login(ctx, localpart, password)
	}
	return u, err
}

// Client returns a mautrix client logged in as u (with u's device).
func (hs *Homeserver) Client(u *User) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(hs.url, id.UserID(u.UserID), u.AccessToken)
	if err != nil {
		return nil, fmt.Errorf("failed to create matrix client for %s: %w", u.UserID, err)
	}
	cli.DeviceID = id.DeviceID(u.DeviceID)
	return cli, nil
}

// doJSON sends a JSON request to the homeserver and decodes the JSON answer.
// Error bodies are reported by errcode, never with the request (it may hold
// passwords).
func (hs *Homeserver) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("failed to encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, hs.url+path, body)
	if err != nil {
		return fmt.Errorf("failed to build request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hs.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to send %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var merr matrixError
		_ = json.Unmarshal(data, &merr)
		if merr.ErrCode == "M_USER_IN_USE" {
			return fmt.Errorf("%s %s: HTTP %d %s: %w", method, path, resp.StatusCode, merr.ErrCode, ErrUserExists)
		}
		return fmt.Errorf("%s %s: HTTP %d %s %s", method, path, resp.StatusCode, merr.ErrCode, merr.Error)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("failed to decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/id"
)

// maxAuthResponse bounds the body read from login, refresh and OAuth endpoints.
const maxAuthResponse = 1 << 20

// authAPI sends the requests of logging in, which do not go through the Manager's round trips:
// with the plain client (MATRIX_PROXY, MATRIX_API_TIMEOUT) and no token unless one is set on the
// request, to the homeserver's login endpoints and to the OAuth server.
type authAPI struct {
	http       *http.Client
	homeserver string // base URL without trailing slash
}

// whoami asks the homeserver whose token tok is.
func (a authAPI) whoami(ctx context.Context, tok string) (id.UserID, id.DeviceID, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.clientURL("v3", "account", "whoami"), nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	var resp struct {
		UserID   id.UserID   `json:"user_id"`
		DeviceID id.DeviceID `json:"device_id"`
	}
	if err := a.do(req, "check the token with whoami", &resp); err != nil {
		return "", "", err
	}
	return resp.UserID, resp.DeviceID, nil
}

func (a authAPI) clientURL(parts ...string) string {
	u := a.homeserver + "/_matrix/client"
	for _, p := range parts {
		u += "/" + url.PathEscape(p)
	}
	return u
}

func (a authAPI) postJSON(ctx context.Context, op, u string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return a.do(req, op, out)
}

// postForm posts form to u and expects a 2xx answer.
func (a authAPI) postForm(ctx context.Context, op, u string, form url.Values) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.do(req, op, nil)
}

// do sends an unauthenticated (or explicitly authenticated) request with the plain client and
// decodes a 2xx JSON answer into out. Refusals become *ServerError.
func (a authAPI) do(req *http.Request, op string, out any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthResponse))
	if err != nil {
		return fmt.Errorf("failed to %s: reading the answer: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseServerError(op, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("failed to %s: the answer is not the expected JSON: %w", op, err)
	}
	return nil
}

// parseServerError reads a Matrix ({errcode, error, soft_logout}) or OAuth ({error,
// error_description}) error body.
func parseServerError(op string, status int, body []byte) *ServerError {
	var e struct {
		ErrCode     string `json:"errcode"`
		Error       any    `json:"error"`
		Description string `json:"error_description"`
		SoftLogout  bool   `json:"soft_logout"`
	}
	_ = json.Unmarshal(body, &e)
	se := &ServerError{Op: op, Status: status, Code: e.ErrCode, SoftLogout: e.SoftLogout}
	msg, _ := e.Error.(string)
	if se.Code == "" { // OAuth: "error" is the code
		se.Code, msg = msg, e.Description
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	se.Message = msg
	return se
}

package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
)

// Matrix scopes (MSC2967): the stable names, and the unstable ones older servers advertise.
const (
	scopeAPIStable      = "urn:matrix:client:api:*"
	scopeDeviceStable   = "urn:matrix:client:device:"
	scopeAPIUnstable    = "urn:matrix:org.matrix.msc2967.client:api:*"
	scopeDeviceUnstable = "urn:matrix:org.matrix.msc2967.client:device:"

	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"

	// deviceRedirectKey stands for "no redirect URI" when remembering device-flow clients.
	deviceRedirectKey = grantDeviceCode
)

// Metadata is the authorization server metadata (RFC 8414, MSC2965) the gateway uses.
type Metadata struct {
	Issuer                        string   `json:"issuer"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
	TokenEndpoint                 string   `json:"token_endpoint"`
	RegistrationEndpoint          string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint            string   `json:"revocation_endpoint,omitempty"`
	DeviceAuthorizationEndpoint   string   `json:"device_authorization_endpoint,omitempty"`
	ResponseTypesSupported        []string `json:"response_types_supported"`
	ResponseModesSupported        []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported           []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	ScopesSupported               []string `json:"scopes_supported,omitempty"`
}

// ParseMetadata decodes and validates a metadata document: the endpoints the gateway calls
// must be absolute http(s) URLs, and the server must offer the authorization code flow with
// PKCE S256 or the device authorization grant.
func ParseMetadata(data []byte) (*Metadata, error) {
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("the OAuth metadata is not a JSON object: %w", err)
	}
	return &md, md.Validate()
}

// Validate checks the metadata (see ParseMetadata).
func (md *Metadata) Validate() error {
	if md.Issuer == "" {
		return errors.New("the OAuth metadata has no issuer")
	}
	if err := checkEndpoint("token_endpoint", md.TokenEndpoint, true); err != nil {
		return err
	}
	for _, e := range []struct{ name, val string }{
		{"registration_endpoint", md.RegistrationEndpoint}, {"revocation_endpoint", md.RevocationEndpoint},
		{"device_authorization_endpoint", md.DeviceAuthorizationEndpoint},
	} {
		if err := checkEndpoint(e.name, e.val, false); err != nil {
			return err
		}
	}
	if len(md.GrantTypesSupported) > 0 && !md.supportsGrant(grantRefreshToken) {
		return errors.New("the OAuth server does not offer grant_type refresh_token, so the bot could not stay logged in")
	}
	if md.SupportsDeviceFlow() {
		return nil
	}
	if err := md.validateCodeFlow(); err != nil {
		return fmt.Errorf("%w (and it offers no device authorization grant)", err)
	}
	return nil
}

func (md *Metadata) validateCodeFlow() error {
	if err := checkEndpoint("authorization_endpoint", md.AuthorizationEndpoint, true); err != nil {
		return err
	}
	switch {
	case !slices.Contains(md.ResponseTypesSupported, "code"):
		return errors.New("the OAuth server does not support response_type=code")
	case !slices.Contains(md.CodeChallengeMethodsSupported, "S256"):
		return errors.New("the OAuth server does not support PKCE with S256")
	case !md.supportsGrant(grantAuthorizationCode):
		return errors.New("the OAuth server does not support grant_type authorization_code")
	case len(md.ResponseModesSupported) > 0 && !slices.Contains(md.ResponseModesSupported, "query") && !slices.Contains(md.ResponseModesSupported, "fragment"):
		return errors.New("the OAuth server supports neither response_mode query nor fragment")
	}
	return nil
}

// supportsGrant: an absent grant_types_supported means the RFC 8414 default (code, implicit).
func (md *Metadata) supportsGrant(g string) bool {
	if len(md.GrantTypesSupported) == 0 {
		return g == grantAuthorizationCode || g == grantRefreshToken
	}
	return slices.Contains(md.GrantTypesSupported, g)
}

// SupportsDeviceFlow reports whether the device authorization grant (RFC 8628) is offered.
func (md *Metadata) SupportsDeviceFlow() bool {
	return md.DeviceAuthorizationEndpoint != "" && slices.Contains(md.GrantTypesSupported, grantDeviceCode)
}

// responseMode is query when the server allows it (a loopback server reads it directly), else
// fragment.
func (md *Metadata) responseMode() string {
	if len(md.ResponseModesSupported) == 0 || slices.Contains(md.ResponseModesSupported, "query") {
		return "query"
	}
	return "fragment"
}

// unstableScopes reports whether the server advertises only the unstable MSC2967 scopes.
func (md *Metadata) unstableScopes() bool {
	return slices.Contains(md.ScopesSupported, scopeAPIUnstable) && !slices.Contains(md.ScopesSupported, scopeAPIStable)
}

func checkEndpoint(name, val string, required bool) error {
	if val == "" {
		if required {
			return fmt.Errorf("the OAuth metadata has no %s", name)
		}
		return nil
	}
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("the OAuth metadata's %s %q is not an http(s) URL", name, val)
	}
	return nil
}

// Scope returns the scope to request: oauth_scope or the Matrix API scope, in the form the
// server advertises, with the device scope for device added unless one is present.
func (md *Metadata) Scope(configured string, device id.DeviceID) string {
	api, dev := scopeAPIStable, scopeDeviceStable
	if md.unstableScopes() {
		api, dev = scopeAPIUnstable, scopeDeviceUnstable
	}
	scopes := strings.Fields(configured)
	if len(scopes) == 0 {
		scopes = []string{api}
	}
	if !slices.ContainsFunc(scopes, func(s string) bool {
		return strings.HasPrefix(s, scopeDeviceStable) || strings.HasPrefix(s, scopeDeviceUnstable)
	}) {
		scopes = append(scopes, dev+string(device))
	}
	return strings.Join(scopes, " ")
}

// oauthFlows is OAuth 2.0 (next-gen auth) for one bot: discovering the authorization server,
// registering the client, the device authorization grant and the authorization code flow with
// PKCE (with the receivers of its redirect, callback.go), refreshing and revoking tokens.
type oauthFlows struct {
	bot       config.Bot
	api       authAPI
	log       *slog.Logger
	clients   ClientRegistry // nil: register on every login
	prompter  Prompter       // nil: the log
	callbacks *CallbackMux   // nil: no redirects to the gateway's own server

	// wait sleeps for d or until ctx ends (ctx's error then); tests record the waits instead.
	wait func(ctx context.Context, d time.Duration) error
}

// discover finds the authorization server's metadata in nonebot-adapter-matrix's order:
// oauth_metadata_url, the homeserver's /_matrix/client/v1/auth_metadata, its unstable MSC2965
// form, then oauth_server_url's OpenID/OAuth well-known documents.
func (o *oauthFlows) discover(ctx context.Context) (*Metadata, error) {
	var tried []string
	var urls []string
	if o.bot.OAuthMetadataURL != "" {
		urls = append(urls, o.bot.OAuthMetadataURL)
	}
	urls = append(urls, o.api.clientURL("v1", "auth_metadata"),
		o.api.homeserver+"/_matrix/client/unstable/org.matrix.msc2965/auth_metadata")
	if s := strings.TrimRight(o.bot.OAuthServerURL, "/"); s != "" {
		urls = append(urls, s+"/.well-known/openid-configuration", s+"/.well-known/oauth-authorization-server")
	}
	for _, u := range urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			tried = append(tried, u+": "+err.Error())
			continue
		}
		var raw json.RawMessage
		if err := o.api.do(req, "fetch the OAuth metadata", &raw); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			tried = append(tried, u+": "+err.Error())
			continue
		}
		md, err := ParseMetadata(raw)
		if err != nil {
			return nil, fmt.Errorf("the OAuth metadata at %s is not usable: %w", u, err)
		}
		o.log.Debug("found the OAuth metadata", "url", u, "issuer", md.Issuer)
		return md, nil
	}
	return nil, fmt.Errorf("failed to discover the OAuth server (tried %s); set oauth_metadata_url or oauth_server_url", strings.Join(tried, "; "))
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newDeviceID returns a random device ID of 10 upper-case letters and digits.
func newDeviceID() id.DeviceID {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return id.DeviceID(b)
}

// pkce returns a code verifier and its S256 challenge (RFC 7636).
func pkce() (verifier, challenge string) {
	verifier = randomToken(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

func (o *oauthFlows) postForm(ctx context.Context, op, endpoint string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("failed to %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return o.api.do(req, op, out)
}

// tokenRequest asks the token endpoint for tokens with form and builds the session.
func (o *oauthFlows) tokenRequest(ctx context.Context, op string, md *Metadata, clientID string, form url.Values, device id.DeviceID) (Tokens, error) {
	start := time.Now()
	var resp tokenResponse
	if err := o.postForm(ctx, op, md.TokenEndpoint, form, &resp); err != nil {
		return Tokens{}, err
	}
	if resp.AccessToken == "" {
		return Tokens{}, fmt.Errorf("failed to %s: the answer has no access_token", op)
	}
	t := Tokens{
		DeviceID: device, AccessToken: resp.AccessToken, RefreshToken: resp.RefreshToken, Type: SessionOAuth,
		OAuthTokenEndpoint: md.TokenEndpoint, OAuthClientID: clientID,
	}
	t.setExpiry(start, time.Duration(resp.ExpiresIn)*time.Second)
	return t, nil
}

// refresh exchanges the refresh token at the token endpoint.
func (o *oauthFlows) refresh(ctx context.Context, cur Tokens) (Tokens, error) {
	if cur.OAuthTokenEndpoint == "" || cur.OAuthClientID == "" {
		md, err := o.discover(ctx)
		if err != nil {
			return Tokens{}, err
		}
		cur.OAuthTokenEndpoint = md.TokenEndpoint
		if cur.OAuthClientID == "" {
			cur.OAuthClientID = o.bot.OAuthClientID
		}
	}
	start := time.Now()
	var resp tokenResponse
	err := o.postForm(ctx, "refresh the OAuth access token", cur.OAuthTokenEndpoint, url.Values{
		"grant_type": {grantRefreshToken}, "refresh_token": {cur.RefreshToken}, "client_id": {cur.OAuthClientID},
	}, &resp)
	if err != nil {
		return Tokens{}, err
	}
	return cur.refreshed("the OAuth token endpoint", start, resp.AccessToken, resp.RefreshToken, time.Duration(resp.ExpiresIn)*time.Second)
}

// revoke revokes the session's refresh and access tokens (RFC 7009).
func (o *oauthFlows) revoke(ctx context.Context, t Tokens) error {
	md, err := o.discover(ctx)
	if err != nil {
		return err
	}
	if md.RevocationEndpoint == "" {
		return errors.New("the OAuth server has no revocation_endpoint; the stored session is kept")
	}
	for _, tok := range []struct{ val, hint string }{{t.RefreshToken, "refresh_token"}, {t.AccessToken, "access_token"}} {
		if tok.val == "" {
			continue
		}
		err := o.postForm(ctx, "revoke the OAuth "+tok.hint, md.RevocationEndpoint, url.Values{
			"token": {tok.val}, "token_type_hint": {tok.hint}, "client_id": {t.OAuthClientID},
		}, nil)
		if err != nil {
			return err
		}
	}
	return nil
}

// clientFor returns the OAuth client ID: oauth_client_id, a remembered registration, or a new
// dynamic registration (RFC 7591) with nonebot-adapter-matrix's client metadata.
func (o *oauthFlows) clientFor(ctx context.Context, md *Metadata, redirectURI, registryKey string, native bool) (string, error) {
	if o.bot.OAuthClientID != "" {
		return o.bot.OAuthClientID, nil
	}
	if o.clients != nil {
		if cid, err := o.clients.OAuthClient(ctx, md.Issuer, registryKey); err == nil && cid != "" {
			return cid, nil
		}
	}
	if md.RegistrationEndpoint == "" {
		return "", errors.New("the OAuth server offers no dynamic client registration: set oauth_client_id")
	}
	name := o.bot.LoginInitialDeviceDisplayName
	if name == "" {
		name = o.bot.LoginUser
	}
	if name == "" {
		name = "Matrix Bot"
	}
	clientURI := o.bot.OAuthClientURI
	if clientURI == "" {
		clientURI = o.api.homeserver
	}
	reg := map[string]any{
		"client_name": name, "client_uri": clientURI, "token_endpoint_auth_method": "none",
	}
	if redirectURI == "" { // device authorization grant
		reg["application_type"] = "native"
		reg["grant_types"] = []string{grantDeviceCode, grantRefreshToken}
		reg["response_types"] = []string{}
	} else {
		reg["application_type"] = "web"
		if native {
			reg["application_type"] = "native"
		}
		reg["redirect_uris"] = []string{redirectURI}
		reg["grant_types"] = []string{grantAuthorizationCode, grantRefreshToken}
		reg["response_types"] = []string{"code"}
	}
	var resp struct {
		ClientID string `json:"client_id"`
	}
	if err := o.api.postJSON(ctx, "register the OAuth client", md.RegistrationEndpoint, reg, &resp); err != nil {
		return "", err
	}
	if resp.ClientID == "" {
		return "", errors.New("failed to register the OAuth client: the answer has no client_id")
	}
	o.log.Info("registered an OAuth client", "issuer", md.Issuer, "client_id", resp.ClientID)
	if o.clients != nil {
		if err := o.clients.PutOAuthClient(ctx, md.Issuer, registryKey, resp.ClientID); err != nil {
			o.log.Warn("failed to remember the OAuth client", "error", err)
		}
	}
	return resp.ClientID, nil
}

// login logs in with OAuth 2.0 on device: the device authorization grant when the server offers
// it and no oauth_redirect_uri is set, else the authorization code flow with PKCE. The Prompter
// shows the operator what to open. The user is learned with whoami.
func (o *oauthFlows) login(ctx context.Context, device id.DeviceID) (Tokens, error) {
	md, err := o.discover(ctx)
	if err != nil {
		return Tokens{}, err
	}
	var t Tokens
	if o.bot.OAuthRedirectURI == "" && md.SupportsDeviceFlow() {
		t, err = o.deviceFlow(ctx, md, device)
	} else {
		if verr := md.validateCodeFlow(); verr != nil {
			return Tokens{}, verr
		}
		t, err = o.codeFlow(ctx, md, device)
	}
	if err != nil {
		return Tokens{}, err
	}
	user, dev, err := o.api.whoami(ctx, t.AccessToken)
	if err != nil {
		return Tokens{}, fmt.Errorf("the OAuth login worked, but the homeserver did not accept the token: %w", err)
	}
	t.UserID = user
	if dev != "" {
		t.DeviceID = dev
	}
	o.log.Info("logged in with OAuth", "session", t)
	return t, nil
}

const (
	// deviceDefaultInterval is the wait between token polls when the device authorization
	// gives no interval (RFC 8628 §3.2).
	deviceDefaultInterval = 5 * time.Second
	// deviceSlowDown is added to that wait on every slow_down answer (RFC 8628 §3.5).
	deviceSlowDown = 5 * time.Second
	// deviceMaxBackoff caps the doubling of the wait after failed polls.
	deviceMaxBackoff = time.Minute
)

// deviceAuthorization is the device authorization endpoint's answer (RFC 8628 §3.2).
type deviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

func (o *oauthFlows) deviceFlow(ctx context.Context, md *Metadata, device id.DeviceID) (Tokens, error) {
	clientID, err := o.clientFor(ctx, md, "", deviceRedirectKey, true)
	if err != nil {
		return Tokens{}, err
	}
	var da deviceAuthorization
	err = o.postForm(ctx, "start the device authorization", md.DeviceAuthorizationEndpoint, url.Values{
		"client_id": {clientID}, "scope": {md.Scope(o.bot.OAuthScope, device)},
	}, &da)
	if err != nil {
		return Tokens{}, err
	}
	if da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return Tokens{}, errors.New("failed to start the device authorization: the answer lacks device_code, user_code or verification_uri")
	}
	expires := time.Duration(da.ExpiresIn) * time.Second
	if expires <= 0 {
		expires = o.bot.OAuthCallbackTimeout
	}
	o.prompt().ShowUserCode(da.VerificationURI, da.VerificationURIComplete, da.UserCode, expires)
	if o.bot.OAuthOpenBrowser {
		openBrowser(firstNonEmpty(da.VerificationURIComplete, da.VerificationURI))
	}
	interval := deviceDefaultInterval
	if da.Interval > 0 {
		interval = time.Duration(da.Interval) * time.Second
	}
	pctx, cancel := context.WithTimeout(ctx, expires)
	defer cancel()
	for {
		if err := o.wait(pctx, interval); err != nil {
			if ctx.Err() != nil {
				return Tokens{}, ctx.Err()
			}
			return Tokens{}, fmt.Errorf("the device code expired after %s without being approved", expires)
		}
		tok, err := o.tokenRequest(pctx, "poll the device authorization", md, clientID, url.Values{
			"grant_type": {grantDeviceCode}, "device_code": {da.DeviceCode}, "client_id": {clientID},
		}, device)
		if err == nil {
			return tok, nil
		}
		var se *ServerError
		if !errors.As(err, &se) || se.Status >= 500 || se.Status == http.StatusTooManyRequests || se.Status == http.StatusRequestTimeout {
			if pctx.Err() != nil {
				continue // o.wait reports the end
			}
			// RFC 8628 §3.5: back off exponentially after a connection failure; a server error
			// or 429 is treated alike, instead of ending the login.
			interval = max(interval, min(2*interval, deviceMaxBackoff))
			o.log.Warn("failed to poll the device authorization; retrying", "error", err, "retry_in", interval.String())
			continue
		}
		switch se.Code {
		case "authorization_pending":
		case "slow_down":
			interval += deviceSlowDown
			o.log.Info("the OAuth server asked to poll the device authorization more slowly", "interval", interval.String())
		case "access_denied":
			return Tokens{}, errors.New("the device authorization was denied")
		case "expired_token":
			return Tokens{}, errors.New("the device code expired before it was approved")
		default:
			return Tokens{}, err
		}
	}
}

// codeFlow runs the authorization code flow with PKCE S256 and a checked state.
func (o *oauthFlows) codeFlow(ctx context.Context, md *Metadata, device id.DeviceID) (Tokens, error) {
	state := randomToken(16)
	rcv, err := o.receiver(state)
	if err != nil {
		return Tokens{}, err
	}
	defer rcv.Close()
	redirectURI := rcv.RedirectURI()
	clientID, err := o.clientFor(ctx, md, redirectURI, rcv.RegistryKey(), rcv.Native())
	if err != nil {
		return Tokens{}, err
	}
	verifier, challenge := pkce()
	authURL, err := url.Parse(md.AuthorizationEndpoint)
	if err != nil {
		return Tokens{}, fmt.Errorf("failed to parse authorization_endpoint: %w", err)
	}
	q := authURL.Query()
	q.Set("response_type", "code")
	q.Set("response_mode", md.responseMode())
	q.Set("client_id", clientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", md.Scope(o.bot.OAuthScope, device))
	q.Set("state", state)
	q.Set("code_challenge", challenge)
	q.Set("code_challenge_method", "S256")
	if o.bot.LoginUser != "" && strings.HasPrefix(o.bot.LoginUser, "@") {
		q.Set("login_hint", "mxid:"+o.bot.LoginUser)
	}
	authURL.RawQuery = q.Encode()
	o.prompt().ShowURL(authURL.String())
	if o.bot.OAuthOpenBrowser {
		openBrowser(authURL.String())
	}
	wctx, cancel := context.WithTimeout(ctx, o.bot.OAuthCallbackTimeout)
	defer cancel()
	code, err := rcv.Wait(wctx)
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return Tokens{}, fmt.Errorf("no OAuth redirect within oauth_callback_timeout (%s)", o.bot.OAuthCallbackTimeout)
		}
		return Tokens{}, err
	}
	return o.tokenRequest(ctx, "exchange the authorization code", md, clientID, url.Values{
		"grant_type": {grantAuthorizationCode}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {clientID}, "code_verifier": {verifier},
	}, device)
}

// checkRedirect reads the parameters of an OAuth redirect: the code, once state matches.
func checkRedirect(params url.Values, state string) (string, error) {
	if e := params.Get("error"); e != "" {
		msg := "the authorization was refused: " + e
		if d := params.Get("error_description"); d != "" {
			msg += ": " + d
		}
		if subtle.ConstantTimeCompare([]byte(params.Get("state")), []byte(state)) != 1 {
			return "", errWrongState
		}
		return "", errors.New(msg)
	}
	if subtle.ConstantTimeCompare([]byte(params.Get("state")), []byte(state)) != 1 {
		return "", errWrongState
	}
	code := params.Get("code")
	if code == "" {
		return "", errors.New("the redirect carries no authorization code")
	}
	return code, nil
}

var errWrongState = errors.New("the redirect's state does not match this login; refused (possible forgery)")

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

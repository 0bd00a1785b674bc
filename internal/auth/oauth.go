package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/oauth"

	"github.com/matrix-onebot/gateway/internal/auth/oauthmeta"
	"github.com/matrix-onebot/gateway/internal/config"
)

// deviceRedirectKey stands for "no redirect URI" when remembering device-flow clients.
const deviceRedirectKey = oauthmeta.GrantDeviceCode

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
func (o *oauthFlows) discover(ctx context.Context) (*oauthmeta.Metadata, error) {
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
		md, err := oauthmeta.Parse(raw)
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

// client returns a mautrix client for the OAuth calls at the server md describes: the plain HTTP
// client (MATRIX_PROXY, MATRIX_API_TIMEOUT), no token, no retries (the callers decide), answers
// bounded like the other login calls.
func (o *oauthFlows) client(md *oauthmeta.Metadata) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(o.api.homeserver, "", "")
	if err != nil {
		return nil, fmt.Errorf("failed to set up the OAuth client: %w", err)
	}
	cli.Client = o.api.http
	cli.DefaultHTTPRetries = 0
	cli.ResponseSizeLimit = maxAuthResponse
	cli.OAuthSetServerMetadata(md.Server())
	return cli, nil
}

// oauthError turns a failed mautrix OAuth call into what failure handling reads: an answer with
// an error status becomes a *ServerError (status, OAuth error code, description); anything else
// (no answer, an unreadable one) stays an error that may pass.
func oauthError(op string, err error) error {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.Response != nil && (he.Response.StatusCode < 200 || he.Response.StatusCode > 299) {
		se := &ServerError{Op: op, Status: he.Response.StatusCode}
		if he.RespError != nil {
			se.Code, se.Message = he.RespError.ErrCode, he.RespError.Err
			se.SoftLogout, _ = he.RespError.ExtraData["soft_logout"].(bool)
		}
		if len(se.Message) > 200 {
			se.Message = se.Message[:200]
		}
		return se
	}
	return fmt.Errorf("failed to %s: %w", op, err)
}

// session builds the session of a token endpoint's answer, received at start.
func session(op string, md *oauthmeta.Metadata, clientID string, device id.DeviceID, start time.Time, resp *oauth.TokenResponse) (Tokens, error) {
	if resp == nil || resp.AccessToken == "" {
		return Tokens{}, fmt.Errorf("failed to %s: the answer has no access_token", op)
	}
	t := Tokens{
		DeviceID: device, AccessToken: resp.AccessToken, RefreshToken: resp.RefreshToken, Type: SessionOAuth,
		OAuthTokenEndpoint: md.TokenEndpoint, OAuthClientID: clientID,
	}
	t.setExpiry(start, resp.ExpiresIn.Duration)
	return t, nil
}

// errNoOAuthClient: a session to refresh names no OAuth client and oauth_client_id is unset, so
// no token endpoint can take the refresh token. It is a refusal (the bot goes offline saying
// what to do), as the token endpoint's 400 was before mautrix, which refuses to send it, made
// the call.
var errNoOAuthClient = errors.New("failed to refresh the OAuth access token: the session names no OAuth client; set oauth_client_id or log in again")

// refresh exchanges the refresh token at the token endpoint (mautrix's OAuthRefreshToken, which
// hands the new tokens to SaveNewToken).
func (o *oauthFlows) refresh(ctx context.Context, cur Tokens) (Tokens, error) {
	md := &oauthmeta.Metadata{TokenEndpoint: cur.OAuthTokenEndpoint}
	if cur.OAuthTokenEndpoint == "" || cur.OAuthClientID == "" {
		var err error
		if md, err = o.discover(ctx); err != nil {
			return Tokens{}, err
		}
		cur.OAuthTokenEndpoint = md.TokenEndpoint
		if cur.OAuthClientID == "" {
			cur.OAuthClientID = o.bot.OAuthClientID
		}
	}
	if cur.OAuthClientID == "" {
		return Tokens{}, errNoOAuthClient
	}
	cli, err := o.client(md)
	if err != nil {
		return Tokens{}, err
	}
	// A zero expiry: mautrix refreshes only tokens that expire within the buffer.
	cli.OAuthSetTokens(cur.OAuthClientID, cur.RefreshToken, cur.AccessToken, time.Time{})
	var access, refresh string
	var expiry time.Time
	cli.SaveNewToken = func(_ context.Context, r, a string, e time.Time) error {
		refresh, access, expiry = r, a, e
		return nil
	}
	start := time.Now()
	if err := cli.OAuthRefreshToken(ctx, 0); err != nil {
		return Tokens{}, oauthError("refresh the OAuth access token", err)
	}
	// mautrix gives the expiry (its start + expires_in); expires_in is whole seconds.
	lifetime := expiry.Sub(start).Round(time.Second)
	return cur.refreshed("the OAuth token endpoint", start, access, refresh, lifetime)
}

// revoke revokes the session's refresh and access tokens (RFC 7009). Not mautrix's
// OAuthRevokeToken: it takes a 401 for success, but a 401 (invalid_client, RFC 7009 §2.2.1) means
// the token was not revoked, and `gateway logout` must then fail and keep the session.
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
		err := o.api.postForm(ctx, "revoke the OAuth "+tok.hint, md.RevocationEndpoint, url.Values{
			"token": {tok.val}, "token_type_hint": {tok.hint}, "client_id": {t.OAuthClientID},
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// clientFor returns the OAuth client ID: oauth_client_id, a remembered registration, or a new
// dynamic registration (RFC 7591) with nonebot-adapter-matrix's client metadata.
func (o *oauthFlows) clientFor(ctx context.Context, md *oauthmeta.Metadata, redirectURI, registryKey string, native bool) (string, error) {
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
	reg := &oauth.ClientMetadata{ClientName: name, ClientURI: clientURI, TokenEndpointAuthMethod: oauth.AuthMethodNone}
	var resp *oauth.ClientMetadata
	if redirectURI == "" { // device authorization grant
		reg.ApplicationType = oauth.ApplicationTypeNative
		reg.GrantTypes = []oauth.GrantType{oauth.GrantTypeDeviceCode, oauth.GrantTypeRefreshToken}
		// Not mautrix's OAuthRegisterClient: its ClientMetadata leaves out an empty
		// response_types (omitempty), so the server takes the RFC 7591 default ["code"] and
		// refuses a client without redirect_uris (oidc-provider: "invalid_redirect_uri:
		// redirect_uris is mandatory property"). This client must say it has none.
		body := map[string]any{
			"client_name": reg.ClientName, "client_uri": reg.ClientURI, "token_endpoint_auth_method": reg.TokenEndpointAuthMethod,
			"application_type": reg.ApplicationType, "grant_types": reg.GrantTypes, "response_types": []string{},
		}
		if err := o.api.postJSON(ctx, "register the OAuth client", md.RegistrationEndpoint, body, &resp); err != nil {
			return "", err
		}
	} else {
		reg.ApplicationType = oauth.ApplicationTypeWeb
		if native {
			reg.ApplicationType = oauth.ApplicationTypeNative
		}
		reg.RedirectURIs = []string{redirectURI}
		reg.GrantTypes = []oauth.GrantType{oauth.GrantTypeAuthorizationCode, oauth.GrantTypeRefreshToken}
		reg.ResponseTypes = []oauth.ResponseType{oauth.ResponseTypeCode}
		cli, err := o.client(md)
		if err != nil {
			return "", err
		}
		if resp, err = cli.OAuthRegisterClient(ctx, reg); err != nil {
			return "", oauthError("register the OAuth client", err)
		}
	}
	if resp == nil || resp.ClientID == "" {
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
		if verr := md.ValidateCodeFlow(); verr != nil {
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

func (o *oauthFlows) deviceFlow(ctx context.Context, md *oauthmeta.Metadata, device id.DeviceID) (Tokens, error) {
	clientID, err := o.clientFor(ctx, md, "", deviceRedirectKey, true)
	if err != nil {
		return Tokens{}, err
	}
	cli, err := o.client(md)
	if err != nil {
		return Tokens{}, err
	}
	da, err := cli.OAuthGenerateDeviceCode(ctx, oauth.GenerateDeviceCodeParams{ClientID: clientID, Scopes: scopes(md.Scope(o.bot.OAuthScope, device))})
	if err != nil {
		return Tokens{}, oauthError("start the device authorization", err)
	}
	if da == nil || da.DeviceCode == "" || da.UserCode == "" || da.VerificationURI == "" {
		return Tokens{}, errors.New("failed to start the device authorization: the answer lacks device_code, user_code or verification_uri")
	}
	expires := da.ExpiresIn.Duration
	if expires <= 0 {
		expires = o.bot.OAuthCallbackTimeout
	}
	o.prompt().ShowUserCode(da.VerificationURI, da.VerificationURIComplete, da.UserCode, expires)
	if o.bot.OAuthOpenBrowser {
		openBrowser(firstNonEmpty(da.VerificationURIComplete, da.VerificationURI))
	}
	interval := deviceDefaultInterval
	if da.Interval.Duration > 0 {
		interval = da.Interval.Duration
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
		start := time.Now()
		resp, err := cli.OAuthPollDeviceCode(pctx, oauth.PollDeviceCodeParams{DeviceCode: da.DeviceCode, ClientID: clientID})
		if err == nil {
			return session("poll the device authorization", md, clientID, device, start, resp)
		}
		err = oauthError("poll the device authorization", err)
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
func (o *oauthFlows) codeFlow(ctx context.Context, md *oauthmeta.Metadata, device id.DeviceID) (Tokens, error) {
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
	cli, err := o.client(md)
	if err != nil {
		return Tokens{}, err
	}
	params := oauth.GetAuthorizationURLParams{
		RedirectURI: redirectURI, Scopes: scopes(md.Scope(o.bot.OAuthScope, device)), ClientID: clientID,
		ResponseMode: oauth.ResponseMode(md.ResponseMode()),
	}
	if strings.HasPrefix(o.bot.LoginUser, "@") {
		params.UserIDHint = id.UserID(o.bot.LoginUser)
	}
	ac, err := cli.OAuthGetAuthorizationURL(ctx, params)
	if err != nil {
		return Tokens{}, oauthError("build the authorization URL", err)
	}
	// mautrix's state is its transaction ID (a timestamp and a counter), which a forger could
	// guess; the redirect is only taken with this login's random state (RFC 6749 §10.12).
	authURL, err := url.Parse(ac.URL)
	if err != nil {
		return Tokens{}, fmt.Errorf("failed to parse authorization_endpoint: %w", err)
	}
	q := authURL.Query()
	q.Set("state", state)
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
	start := time.Now()
	resp, err := cli.OAuthExchangeToken(ctx, oauth.ExchangeTokenParams{CodeVerifier: ac.CodeVerifier, RedirectURI: redirectURI, Code: code, ClientID: clientID})
	if err != nil {
		return Tokens{}, oauthError("exchange the authorization code", err)
	}
	return session("exchange the authorization code", md, clientID, device, start, resp)
}

// scopes splits a scope string into mautrix's list.
func scopes(s string) oauth.ScopeList {
	var list oauth.ScopeList
	for _, f := range strings.Fields(s) {
		list = append(list, oauth.Scope(f))
	}
	return list
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

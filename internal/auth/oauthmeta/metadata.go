// Package oauthmeta reads an OAuth 2.0 authorization server's metadata (RFC 8414, MSC2965):
// it validates the document (the endpoints the gateway calls, the flows it needs), chooses the
// Matrix scopes in the form the server advertises (MSC2967 stable or unstable), and hands the
// endpoints to mautrix's OAuth calls.
package oauthmeta

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/oauth"
)

// Matrix scopes (MSC2967): the stable names, and the unstable ones older servers advertise.
const (
	scopeAPIStable      = "urn:matrix:client:api:*"
	scopeDeviceStable   = "urn:matrix:client:device:"
	scopeAPIUnstable    = "urn:matrix:org.matrix.msc2967.client:api:*"
	scopeDeviceUnstable = "urn:matrix:org.matrix.msc2967.client:device:"

	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	// GrantDeviceCode is the device authorization grant (RFC 8628).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
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

// Parse decodes and validates a metadata document: the endpoints the gateway calls
// must be absolute http(s) URLs, and the server must offer the authorization code flow with
// PKCE S256 or the device authorization grant.
func Parse(data []byte) (*Metadata, error) {
	var md Metadata
	if err := json.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("the OAuth metadata is not a JSON object: %w", err)
	}
	return &md, md.Validate()
}

// Validate checks the metadata (see Parse).
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
	if err := md.ValidateCodeFlow(); err != nil {
		return fmt.Errorf("%w (and it offers no device authorization grant)", err)
	}
	return nil
}

// ValidateCodeFlow checks that the server offers the authorization code flow with PKCE S256.
func (md *Metadata) ValidateCodeFlow() error {
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
	return md.DeviceAuthorizationEndpoint != "" && slices.Contains(md.GrantTypesSupported, GrantDeviceCode)
}

// ResponseMode is query when the server allows it (a loopback server reads it directly), else
// fragment.
func (md *Metadata) ResponseMode() string {
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

// Server is the metadata as mautrix's OAuth calls take it (its own ServerMetadata has no
// scopes_supported and is not validated, so discovery and validation stay here).
func (md *Metadata) Server() *oauth.ServerMetadata {
	s := &oauth.ServerMetadata{
		Issuer: md.Issuer, AuthorizationEndpoint: md.AuthorizationEndpoint, RegistrationEndpoint: md.RegistrationEndpoint,
		DeviceAuthorizationEndpoint: md.DeviceAuthorizationEndpoint, RevocationEndpoint: md.RevocationEndpoint,
		TokenEndpoint: md.TokenEndpoint,
	}
	for _, v := range md.ResponseTypesSupported {
		s.ResponseTypesSupported = append(s.ResponseTypesSupported, oauth.ResponseType(v))
	}
	for _, v := range md.ResponseModesSupported {
		s.ResponseModesSupported = append(s.ResponseModesSupported, oauth.ResponseMode(v))
	}
	for _, v := range md.GrantTypesSupported {
		s.GrantTypesSupported = append(s.GrantTypesSupported, oauth.GrantType(v))
	}
	for _, v := range md.CodeChallengeMethodsSupported {
		s.CodeChallengeMethodsSupported = append(s.CodeChallengeMethodsSupported, oauth.CodeChallengeMethod(v))
	}
	return s
}

package fakes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// FakeOAuthProxy stands in front of a real homeserver to make it look like one with next-gen
// auth (MSC3861), which Synapse only offers through Matrix Authentication Service: it serves
// /_matrix/client/v1/auth_metadata from a real OAuth 2.0 server's discovery document, checks
// each bearer token with that server's introspection endpoint, and forwards the request with
// the access token of a real homeserver session of the same account and device (logged in with
// the account's password on the device the token's device scope names). It keeps nothing else.
//
// SetMetadata moves the metadata to the unstable MSC2965 path or removes it (the homeserver
// then answers those paths itself); EditMetadata changes the document it serves.
type FakeOAuthProxy struct {
	Server *httptest.Server
	URL    string

	homeserver   string
	issuer       string
	clientID     string
	clientSecret string

	mu       sync.Mutex
	accounts map[string]fakeAccount // OAuth subject → homeserver account
	sessions map[string]string      // subject + "|" + device → homeserver access token
	logins   int
	where    MetadataPaths
	edit     func(map[string]any)
	metaHits map[string]int // request path → count
}

// MetadataPaths says where the proxy serves the homeserver's auth_metadata.
type MetadataPaths int

const (
	MetadataStable   MetadataPaths = iota // /_matrix/client/v1/auth_metadata (the default)
	MetadataUnstable                      // only /_matrix/client/unstable/org.matrix.msc2965/auth_metadata
	MetadataNone                          // neither: the homeserver answers both paths
)

// The homeserver's OAuth metadata paths (MSC2965).
const (
	StableMetadataPath   = "/_matrix/client/v1/auth_metadata"
	UnstableMetadataPath = "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata"
)

type fakeAccount struct{ user, password string }

// NewFakeOAuthProxy starts the proxy for homeserver, trusting the OAuth server issuer; it
// introspects with the confidential client clientID/clientSecret. Closed in t.Cleanup.
func NewFakeOAuthProxy(t testing.TB, homeserver, issuer, clientID, clientSecret string) *FakeOAuthProxy {
	t.Helper()
	target, err := url.Parse(homeserver)
	if err != nil {
		t.Fatalf("bad homeserver %q: %v", homeserver, err)
	}
	p := &FakeOAuthProxy{
		homeserver: strings.TrimRight(homeserver, "/"), issuer: strings.TrimRight(issuer, "/"),
		clientID: clientID, clientSecret: clientSecret,
		accounts: map[string]fakeAccount{}, sessions: map[string]string{}, metaHits: map[string]int{},
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/auth_metadata"):
			if p.servesMetadata(r.URL.Path) {
				p.serveMetadata(w, r)
			} else {
				rp.ServeHTTP(w, r)
			}
			return
		case r.Header.Get("Authorization") == "":
			rp.ServeHTTP(w, r)
			return
		}
		token, err := p.session(r)
		if err != nil {
			matrixError(w, err)
			return
		}
		r.Header.Set("Authorization", "Bearer "+token)
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.Server.URL
	t.Cleanup(p.Server.Close)
	return p
}

// AddAccount lets the OAuth subject sub act as the homeserver account user (with password).
func (p *FakeOAuthProxy) AddAccount(sub, user, password string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accounts[sub] = fakeAccount{user: user, password: password}
}

// Logins returns how many homeserver sessions the proxy opened.
func (p *FakeOAuthProxy) Logins() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logins
}

// SetMetadata chooses where the metadata is served.
func (p *FakeOAuthProxy) SetMetadata(where MetadataPaths) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.where = where
}

// EditMetadata makes the proxy serve the OAuth server's metadata as edit changes it.
func (p *FakeOAuthProxy) EditMetadata(edit func(md map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.edit = edit
}

// MetadataRequests returns how many requests reached path (one of the auth_metadata paths),
// served by the proxy or passed on to the homeserver.
func (p *FakeOAuthProxy) MetadataRequests(path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.metaHits[path]
}

func (p *FakeOAuthProxy) servesMetadata(path string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.metaHits[path]++
	return path == StableMetadataPath && p.where == MetadataStable || path == UnstableMetadataPath && p.where == MetadataUnstable
}

func (p *FakeOAuthProxy) serveMetadata(w http.ResponseWriter, r *http.Request) {
	resp, err := http.Get(p.issuer + "/.well-known/openid-configuration")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	p.mu.Lock()
	edit := p.edit
	p.mu.Unlock()
	if err == nil && edit != nil && resp.StatusCode == http.StatusOK {
		var md map[string]any
		if err = json.Unmarshal(body, &md); err == nil {
			edit(md)
			body, err = json.Marshal(md)
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

type proxyError struct {
	status     int
	code, msg  string
	softLogout bool
}

func (e *proxyError) Error() string { return e.code + ": " + e.msg }

func matrixError(w http.ResponseWriter, err error) {
	pe, ok := err.(*proxyError)
	if !ok {
		pe = &proxyError{status: http.StatusBadGateway, code: "M_UNKNOWN", msg: err.Error()}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(pe.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errcode": pe.code, "error": pe.msg, "soft_logout": pe.softLogout})
}

// session introspects the request's bearer token and returns the homeserver token to use.
func (p *FakeOAuthProxy) session(r *http.Request) (string, error) {
	bearer := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	resp, err := http.PostForm(p.issuer+"/token/introspection", url.Values{
		"token": {bearer}, "client_id": {p.clientID}, "client_secret": {p.clientSecret},
	})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var in struct {
		Active bool   `json:"active"`
		Sub    string `json:"sub"`
		Scope  string `json:"scope"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("introspection failed: HTTP %d %v", resp.StatusCode, err)
	}
	if !in.Active {
		return "", &proxyError{status: http.StatusUnauthorized, code: "M_UNKNOWN_TOKEN", msg: "the OAuth access token is not active"}
	}
	scopes := strings.Fields(in.Scope)
	if !slices.Contains(scopes, "urn:matrix:client:api:*") && !slices.Contains(scopes, "urn:matrix:org.matrix.msc2967.client:api:*") {
		return "", &proxyError{status: http.StatusForbidden, code: "M_FORBIDDEN", msg: "the token lacks the Matrix API scope"}
	}
	var device string
	for _, s := range scopes {
		for _, prefix := range []string{"urn:matrix:client:device:", "urn:matrix:org.matrix.msc2967.client:device:"} {
			if d, ok := strings.CutPrefix(s, prefix); ok {
				device = d
			}
		}
	}
	if device == "" {
		return "", &proxyError{status: http.StatusForbidden, code: "M_FORBIDDEN", msg: "the token's scope names no device"}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := in.Sub + "|" + device
	if tok, ok := p.sessions[key]; ok {
		return tok, nil
	}
	acct, ok := p.accounts[in.Sub]
	if !ok {
		return "", &proxyError{status: http.StatusForbidden, code: "M_FORBIDDEN", msg: "unknown OAuth subject " + in.Sub}
	}
	tok, err := p.login(acct, device)
	if err != nil {
		return "", err
	}
	p.sessions[key] = tok
	p.logins++
	return tok, nil
}

func (p *FakeOAuthProxy) login(acct fakeAccount, device string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": acct.user},
		"password": acct.password, "device_id": device,
	})
	resp, err := http.Post(p.homeserver+"/_matrix/client/v3/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("homeserver login of %s failed: HTTP %d", acct.user, resp.StatusCode)
	}
	return out.AccessToken, nil
}

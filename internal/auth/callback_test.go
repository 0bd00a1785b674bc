package auth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The gateway's /oauth/callback answers every redirect it cannot use with 400 and keeps
// serving: no state, an unknown state, a POST without parameters. A POST with the parameters
// in its form (response_mode=form_post) reaches the login whose state it carries.
func TestCallbackMuxRefusesWithoutState(t *testing.T) {
	mux := NewCallbackMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	login := mux.expect(srv.URL+CallbackPath, "the-state")
	defer login.Close()

	form := func(v url.Values) (int, string) {
		t.Helper()
		resp, err := http.PostForm(srv.URL+CallbackPath, v)
		if err != nil {
			t.Fatalf("POST %v: %v (did the handler panic?)", v, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get := func(query string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + CallbackPath + query)
		if err != nil {
			t.Fatalf("GET %s: %v", query, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, v := range []url.Values{
		{"code": {"abc"}},
		{"code": {"abc"}, "state": {""}},
		{"code": {"abc"}, "state": {"another-state"}},
		{"error": {"access_denied"}},
		{},
	} {
		if status, body := form(v); status != http.StatusBadRequest {
			t.Errorf("POST %v: %d %q, want 400", v, status, body)
		}
	}
	for _, q := range []string{"?code=abc", "?code=abc&state=", "?code=abc&state=another-state"} {
		if status, body := get(q); status != http.StatusBadRequest {
			t.Errorf("GET %s: %d %q, want 400", q, status, body)
		}
	}
	if status, body := get(""); status != http.StatusOK || !strings.Contains(body, "location.hash") {
		t.Errorf("GET without parameters: %d %q, want the fragment bridge page", status, body)
	}
	select {
	case r := <-login.done:
		t.Fatalf("a refused redirect reached the login: %+v", r)
	default:
	}

	// response_mode=form_post: the state and code are in the form.
	if status, body := form(url.Values{"code": {"the-code"}, "state": {"the-state"}}); status != http.StatusOK {
		t.Fatalf("form_post redirect: %d %q", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, err := login.Wait(ctx); err != nil || code != "the-code" {
		t.Fatalf("login got %q, %v; want the-code", code, err)
	}
}

package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// PresentedToken is the access token of a request: `Authorization: Bearer|Token <t>` or
// `?access_token=`. ok is false when there is none; a malformed Authorization header gives ""
// and true (a wrong token).
func PresentedToken(r *http.Request) (token string, ok bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Token")) {
			return strings.TrimSpace(tok), true
		}
		return "", true // present but malformed: treated as a wrong token
	}
	if q, ok := r.URL.Query()["access_token"]; ok && len(q) > 0 {
		return q[0], true
	}
	return "", false
}

// Presented is a presented token as a SHA-256 digest, to be compared with each configured
// token in constant time: the time taken tells neither which token (if any) came close nor how
// long the tokens are.
type Presented [sha256.Size]byte

// Present digests a presented token.
func Present(token string) Presented { return sha256.Sum256([]byte(token)) }

// Matches reports whether token is set and is the presented one.
func (p Presented) Matches(token string) bool {
	t := sha256.Sum256([]byte(token))
	return token != "" && subtle.ConstantTimeCompare(p[:], t[:]) == 1
}

// Package redact renders values for logs and answers without the secrets they may carry.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// URL renders a URL without its password and query, either of which may carry a token
// (?access_token=…, a signed link's signature).
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.Redacted()
}

// Origin renders a URL as scheme://host[:port] and, when it has more (user info, path, query,
// fragment), "/…#" and a short stable hash of that rest: it names an endpoint where anyone who
// can read it may (a /metrics label), since a webhook URL may carry a secret in its path as well
// as in its query. Two URLs of one host with different paths get different hashes.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(invalid URL)"
	}
	origin := strings.ToLower(u.Scheme) + "://" + u.Host
	rest := u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		rest += "?" + u.RawQuery
	}
	if u.Fragment != "" {
		rest += "#" + u.EscapedFragment()
	}
	if u.User != nil {
		rest = u.User.String() + "@" + rest
	}
	if rest == "" || rest == "/" {
		return origin
	}
	sum := sha256.Sum256([]byte(rest))
	return origin + "/…#" + hex.EncodeToString(sum[:4])
}

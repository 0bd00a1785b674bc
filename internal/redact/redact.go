// Package redact renders values for logs and answers without the secrets they may carry.
package redact

import "net/url"

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

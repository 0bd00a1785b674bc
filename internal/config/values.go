package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// seconds is a duration written as a (possibly fractional) number of
// seconds, the unit the NoneBot adapter uses (MATRIX_API_TIMEOUT=30.0).
type seconds time.Duration

var errNotSeconds = errors.New("not a number of seconds")

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (s *seconds) UnmarshalText(text []byte) error {
	d, err := parseSeconds(string(text))
	if err != nil {
		return err
	}
	*s = seconds(d)
	return nil
}

// parseSeconds parses "30", "30.0" or "0.5" into a Duration. It rejects
// negative, NaN, infinite and out-of-range values.
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errNotSeconds
	}
	return secondsToDuration(f)
}

func secondsToDuration(f float64) (time.Duration, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, errNotSeconds
	case f < 0:
		return 0, errors.New("negative")
	case f > float64(math.MaxInt64)/float64(time.Second):
		return 0, errors.New("too large")
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

// flag is a boolean that accepts the spellings pydantic (and so NoneBot)
// accepts, so existing .env files keep working: 1/0, true/false, t/f,
// yes/no, y/n, on/off, in any case.
type flag bool

var errNotBool = errors.New("not a boolean")

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (b *flag) UnmarshalText(text []byte) error {
	switch strings.ToLower(strings.TrimSpace(string(text))) {
	case "1", "true", "t", "yes", "y", "on":
		*b = true
	case "0", "false", "f", "no", "n", "off":
		*b = false
	default:
		return errNotBool
	}
	return nil
}

// checkURL parses raw as an absolute URL whose scheme is one of schemes and
// which has a host. The returned error text does not repeat raw, which may
// carry credentials.
func checkURL(raw string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return nil, fmt.Errorf("not a valid URL: %w", uerr.Err)
		}
		return nil, fmt.Errorf("not a valid URL: %w", err)
	}
	if !slices.ContainsFunc(schemes, func(s string) bool { return strings.EqualFold(u.Scheme, s) }) {
		want := strings.Join(schemes, " or ")
		if n := len(schemes); n > 2 {
			want = strings.Join(schemes[:n-1], ", ") + " or " + schemes[n-1]
		}
		if u.Scheme == "" {
			return nil, fmt.Errorf("has no scheme (want %s)", want)
		}
		return nil, fmt.Errorf("has scheme %q (want %s)", u.Scheme, want)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("has no host")
	}
	if u.Fragment != "" {
		return nil, errors.New("must not have a #fragment")
	}
	return u, nil
}

// splitList splits a comma-separated list, trimming spaces and dropping
// empty entries.
func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseListen checks a host:port listen address and reports whether its host
// is a loopback address (127.0.0.0/8, ::1) or "localhost". An empty host
// means every interface and is not loopback.
func parseListen(addr string) (loopback bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var aerr *net.AddrError
		if errors.As(err, &aerr) {
			return false, fmt.Errorf("not host:port: %s", aerr.Err)
		}
		return false, fmt.Errorf("not host:port: %w", err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return false, fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false, nil // a host name other than localhost
	}
	return ip.IsLoopback(), nil
}

// parseOrigin checks a browser origin, scheme://host[:port] with no path, and returns it in
// the form browsers send: lower case, without a default port.
func parseOrigin(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return "", errors.New("is not an origin")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("has scheme %q, not http or https", u.Scheme)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("has more than scheme://host[:port]")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return u.Scheme + "://" + host, nil
}

// validUserID reports whether s looks like a Matrix user ID, @local:server.
func validUserID(s string) bool {
	local, server, ok := strings.Cut(s, ":")
	return ok && len(local) > 1 && local[0] == '@' && server != "" &&
		!strings.ContainsAny(s, " \t\r\n")
}

// levenshtein returns the edit distance between a and b, used to suggest the
// key a typo was meant to be.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

package fleet

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Transports hands out one HTTP transport per homeserver, shared by all its bots: one
// connection pool, one set of TLS sessions and DNS look-ups, instead of one per bot.
type Transports struct {
	proxy *url.URL

	mu sync.Mutex
	m  map[string]*http.Transport
}

// idleConnsPerHost is how many idle connections a homeserver's transport keeps: each bot's
// long-polling /sync returns its connection to the pool between two polls, so a pool smaller
// than the number of bots would close and dial connections all the time.
const idleConnsPerHost = 4096

// NewTransports returns transports that go through proxy (nil = none, as MATRIX_PROXY).
func NewTransports(proxy *url.URL) *Transports {
	return &Transports{proxy: proxy, m: map[string]*http.Transport{}}
}

// For returns the transport of the homeserver at base URL homeserver.
func (t *Transports) For(homeserver string) *http.Transport {
	key := strings.ToLower(strings.TrimRight(homeserver, "/"))
	if u, err := url.Parse(homeserver); err == nil && u.Host != "" {
		key = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.m[key]; tr != nil {
		return tr
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if t.proxy != nil {
		tr.Proxy = http.ProxyURL(t.proxy)
	}
	tr.MaxIdleConns = 0 // no limit over all hosts; the per-host one bounds it
	tr.MaxIdleConnsPerHost = idleConnsPerHost
	t.m[key] = tr
	return tr
}

// Len is the number of transports handed out (one per homeserver).
func (t *Transports) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TimingProxy sits between one Matrix client of the benchmark (the gateway, or the plain /sync
// observer) and the homeserver: the client gets the proxy's URL as its homeserver, and every
// request goes through unchanged. It notes, for each /sync answer, when the whole body had come
// from the homeserver, before it writes the answer on to the client; the event IDs in it are read
// later (AnsweredAt), off the client's path.
//
// This is what makes the receive overhead independent of Synapse's wake order: Synapse computes
// the woken long polls' answers one after the other, a few ms each, so the two clients get the
// same message at different times for reasons of its own; timed from each client's own answer,
// the difference between them is what the clients do with it.
//
// What it changes, the same for every client behind such a proxy: one loopback hop each way, and
// a /sync answer reaches the client in one piece, with its Content-Length, once it is complete
// (a client reads the whole body before it parses it anyway). What it holds is bounded
// (maxSyncBody, maxKeptBytes); answers beyond the bounds go on untouched and count as unreadable. Other requests and answers are
// streamed both ways (FlushInterval -1), and connections are kept alive on both sides.
type TimingProxy struct {
	URL string // the proxy's base URL, http://127.0.0.1:PORT

	srv *http.Server

	maxBody, maxKept int // bytes: of one /sync answer read whole, and of all the answers kept

	mu      sync.Mutex
	answers []SyncAnswer
	kept    int // bytes of answers' bodies
	notKept int // /sync answers passed on without being recorded (too large, or over maxKept)
}

// The bounds of what a TimingProxy buffers: a /sync answer larger than maxSyncBody is streamed on
// unread and not timed, and once the answers kept add up to maxKeptBytes, later ones are passed on
// without being kept. Both are counted as unreadable by AnsweredAt, which the benchmark reports.
const (
	maxSyncBody  = 32 << 20
	maxKeptBytes = 256 << 20
)

// SyncAnswer is one successful /sync answer as the proxy read it.
type SyncAnswer struct {
	Done     time.Time // when the last byte of the body had been read from the homeserver
	Encoding string    // its Content-Encoding, "" for none
	Body     []byte    // as read (still encoded)
}

// StartTimingProxy starts a proxy to target (the homeserver's base URL, http or https) on a free
// port of 127.0.0.1.
func StartTimingProxy(target string) (*TimingProxy, error) {
	return startTimingProxy(target, maxSyncBody, maxKeptBytes)
}

func startTimingProxy(target string, maxBody, maxKept int) (*TimingProxy, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("timing proxy: the homeserver URL %q is not http(s)://host[:port]", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("timing proxy: failed to listen: %w", err)
	}
	p := &TimingProxy{URL: "http://" + ln.Addr().String(), maxBody: maxBody, maxKept: maxKept}
	rp := &httputil.ReverseProxy{
		// SetURL keeps the path and query and adds no X-Forwarded-* headers: the homeserver sees
		// the client's request.
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
			// Pass the client's Accept-Encoding on as it is; never ask for gzip on its behalf.
			DisableCompression: true,
		},
		FlushInterval:  -1,
		ModifyResponse: p.timeSync,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			// The client sees the failure; a long poll cut by the client's own stop is no news.
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and cuts the connections through it.
func (p *TimingProxy) Close() error { return p.srv.Close() }

// timeSync reads a successful /sync answer whole, notes when it was complete, and hands it on
// with its length.
func (p *TimingProxy) timeSync(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/sync") {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(p.maxBody)+1))
	done := time.Now()
	if err != nil {
		_ = resp.Body.Close()
		return fmt.Errorf("failed to read a /sync answer: %w", err)
	}
	if len(body) > p.maxBody {
		// Too large to hold: what was read goes on first, the rest streams after it, untimed.
		p.mu.Lock()
		p.notKept++
		p.mu.Unlock()
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	_ = resp.Body.Close()
	p.mu.Lock()
	if p.kept+len(body) > p.maxKept {
		p.notKept++
	} else {
		p.kept += len(body)
		p.answers = append(p.answers, SyncAnswer{Done: done, Encoding: resp.Header.Get("Content-Encoding"), Body: body})
	}
	p.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.TransferEncoding = nil
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// Answers returns the /sync answers recorded so far.
func (p *TimingProxy) Answers() []SyncAnswer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.answers)
}

// AnsweredAt is AnsweredAt of the answers recorded so far; unreadable also counts the /sync
// answers passed on without being kept (beyond the proxy's bounds).
func (p *TimingProxy) AnsweredAt() (at map[string]time.Time, unreadable int) {
	p.mu.Lock()
	answers, notKept := slices.Clone(p.answers), p.notKept
	p.mu.Unlock()
	at, unreadable = AnsweredAt(answers)
	return at, unreadable + notKept
}

// AnsweredAt maps each event ID in the joined rooms' timelines of answers (what the benchmark's
// observers report) to when the first answer holding it was complete; unreadable counts the
// answers that could not be read (an encoding other than gzip, or not a /sync answer).
func AnsweredAt(answers []SyncAnswer) (at map[string]time.Time, unreadable int) {
	at = map[string]time.Time{}
	for _, a := range answers {
		body := a.Body
		switch a.Encoding {
		case "", "identity":
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				body, err = io.ReadAll(zr)
			}
			if err != nil {
				unreadable++
				continue
			}
		default:
			unreadable++
			continue
		}
		ids, err := SyncTimelineEventIDs(body)
		if err != nil {
			unreadable++
			continue
		}
		for _, id := range ids {
			if t, ok := at[id]; !ok || a.Done.Before(t) {
				at[id] = a.Done
			}
		}
	}
	return at, unreadable
}

// SyncTimelineEventIDs reads the event IDs of the joined rooms' timeline events of a /sync answer
// body (a homeserver's: untrusted); events without one are skipped.
func SyncTimelineEventIDs(body []byte) ([]string, error) {
	var s struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct {
					Events []struct {
						EventID string `json:"event_id"`
					} `json:"events"`
				} `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("not a /sync answer: %w", err)
	}
	var ids []string
	for _, room := range s.Rooms.Join {
		for _, e := range room.Timeline.Events {
			if e.EventID != "" {
				ids = append(ids, e.EventID)
			}
		}
	}
	return ids, nil
}

package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/vectors"
)

func msAt(n float64) time.Time { return t0.Add(ms(n)) }

func TestAnsweredAtVectors(t *testing.T) {
	var vec []struct {
		Name    string `json:"name"`
		Answers []struct {
			DoneMs   float64         `json:"done_ms"`
			Body     json.RawMessage `json:"body"`
			Text     string          `json:"text"`
			Encoding string          `json:"encoding"`
		} `json:"answers"`
		Want       map[string]float64 `json:"want"`
		Unreadable int                `json:"unreadable"`
	}
	vectors.ReadFile(t, "sync-answers.json", &vec)
	if len(vec) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vec {
		t.Run(v.Name, func(t *testing.T) {
			var answers []SyncAnswer
			for _, a := range v.Answers {
				body := []byte(a.Body)
				if a.Text != "" {
					body = []byte(a.Text)
				}
				answers = append(answers, SyncAnswer{Done: msAt(a.DoneMs), Encoding: a.Encoding, Body: body})
			}
			got, bad := AnsweredAt(answers)
			if bad != v.Unreadable {
				t.Errorf("unreadable answers: %d, want %d", bad, v.Unreadable)
			}
			if len(got) != len(v.Want) {
				t.Errorf("matched %d event IDs %v, want %d %v", len(got), got, len(v.Want), v.Want)
			}
			for id, at := range v.Want {
				if g, ok := got[id]; !ok || !g.Equal(msAt(at)) {
					t.Errorf("%s: answered at %v (%v), want %v", id, g.Sub(t0), ok, ms(at))
				}
			}
		})
	}
}

func TestAnsweredAtGzip(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(`{"rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$z"}]}}}}}`))
	_ = zw.Close()
	got, bad := AnsweredAt([]SyncAnswer{{Done: msAt(3), Encoding: "gzip", Body: b.Bytes()}, {Done: msAt(4), Encoding: "gzip", Body: []byte("not gzip")}})
	if bad != 1 || len(got) != 1 || !got["$z"].Equal(msAt(3)) {
		t.Fatalf("got %v, %d unreadable; want $z at 3 ms and 1 unreadable", got, bad)
	}
}

func FuzzSyncTimelineEventIDs(f *testing.F) {
	f.Add([]byte(`{"rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$a"},{"type":"x"}]}}}}}`))
	f.Add([]byte(`{"rooms":{"join":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := SyncTimelineEventIDs(body)
		if err != nil && ids != nil {
			t.Fatalf("an error and IDs: %v", ids)
		}
		if slices.Contains(ids, "") {
			t.Fatalf("an empty event ID from %q", body)
		}
	})
}

func TestCompareAnsweredVectors(t *testing.T) {
	var vec []struct {
		Name        string             `json:"name"`
		Comment     string             `json:"_comment"` // why the numbers are what they are
		Keys        []string           `json:"keys"`
		GWAnswer    map[string]float64 `json:"gw_answer"`
		GWArrive    map[string]float64 `json:"gw_arrive"`
		PlainAnswer map[string]float64 `json:"plain_answer"`
		PlainArrive map[string]float64 `json:"plain_arrive"`
		Want        struct {
			Sent          int     `json:"sent"`
			Matched       int     `json:"matched"`
			GWNoAnswer    int     `json:"gw_no_answer"`
			PlainNoAnswer int     `json:"plain_no_answer"`
			P50           float64 `json:"p50_ms"`
			P99           float64 `json:"p99_ms"`
			GW50          float64 `json:"gw_p50_ms"`
			GW99          float64 `json:"gw_p99_ms"`
			Plain50       float64 `json:"plain_p50_ms"`
			Plain99       float64 `json:"plain_p99_ms"`
		} `json:"want"`
	}
	vectors.ReadFile(t, "answer-overhead.json", &vec)
	if len(vec) == 0 {
		t.Fatal("no vectors")
	}
	times := func(m map[string]float64) map[string]time.Time {
		out := map[string]time.Time{}
		for k, v := range m {
			out[k] = msAt(v)
		}
		return out
	}
	for _, v := range vec {
		t.Run(v.Name, func(t *testing.T) {
			got := CompareAnswered(v.Keys, times(v.GWAnswer), times(v.GWArrive), times(v.PlainAnswer), times(v.PlainArrive))
			w := v.Want
			if got.Sent != w.Sent || got.Matched != w.Matched || got.GWNoAnswer != w.GWNoAnswer || got.PlainNoAnswer != w.PlainNoAnswer {
				t.Errorf("counts: got sent %d matched %d no answer gw %d plain %d, want %d %d %d %d",
					got.Sent, got.Matched, got.GWNoAnswer, got.PlainNoAnswer, w.Sent, w.Matched, w.GWNoAnswer, w.PlainNoAnswer)
			}
			for _, c := range []struct {
				name string
				got  time.Duration
				want float64
			}{{"overhead p50", got.P50, w.P50}, {"overhead p99", got.P99, w.P99}, {"gateway side p50", got.GW50, w.GW50},
				{"gateway side p99", got.GW99, w.GW99}, {"plain side p50", got.Plain50, w.Plain50}, {"plain side p99", got.Plain99, w.Plain99}} {
				if c.got != ms(c.want) {
					t.Errorf("%s: %v, want %v", c.name, c.got, ms(c.want))
				}
			}
		})
	}
}

// upstream is a stand-in for the homeserver behind the proxy in these tests: it records what it
// was asked, answers /sync with a JSON body written in two flushed pieces (chunked, as Synapse
// answers), and streams /stream (of known length) in two pieces with a pause the test controls.
type upstream struct {
	srv *httptest.Server

	mu      sync.Mutex
	seen    []string // method path?query auth body, per request
	remotes []string // the proxy's connections, per request

	streamGo chan struct{} // closed by the test: /stream writes its second piece
	bodyGot  chan string   // /upload: the first piece of the request body, before the rest is sent
}

const syncBody = `{"next_batch":"s9","rooms":{"join":{"!r:x":{"timeline":{"events":[{"type":"m.room.message","event_id":"$one"},{"type":"m.room.message","event_id":"$two"}]}}}}}`

func newUpstream(t *testing.T) *upstream {
	u := &upstream{streamGo: make(chan struct{}), bodyGot: make(chan string, 1)}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.URL.Path == "/upload" {
			first := make([]byte, 5)
			_, _ = io.ReadFull(r.Body, first)
			u.bodyGot <- string(first)
			rest, _ := io.ReadAll(r.Body)
			body = append(first, rest...)
		} else {
			body, _ = io.ReadAll(r.Body)
		}
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+string(body))
		u.remotes = append(u.remotes, r.RemoteAddr)
		u.mu.Unlock()
		f := w.(http.Flusher)
		switch r.URL.Path {
		case "/_matrix/client/v3/sync":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Upstream", "yes")
			_, _ = io.WriteString(w, syncBody[:40])
			f.Flush()
			_, _ = io.WriteString(w, syncBody[40:])
		case "/_matrix/client/v3/sync-failing/sync":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$bad"}]}}}}}`)
		case "/stream":
			// With its length known, so that nothing but the proxy's flushing sends the first
			// piece on early.
			w.Header().Set("Content-Length", strconv.Itoa(len("first;second")))
			_, _ = io.WriteString(w, "first;")
			f.Flush()
			select {
			case <-u.streamGo:
			case <-r.Context().Done(): // the test failed and closes the proxy
				return
			}
			_, _ = io.WriteString(w, "second")
		default:
			_, _ = io.WriteString(w, "ok "+string(body))
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() ([]string, []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen), slices.Clone(u.remotes)
}

func startProxy(t *testing.T, target string) *TimingProxy {
	t.Helper()
	p, err := StartTimingProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestTimingProxyTimesSyncAnswersAndChangesNothing(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, up.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var reused []bool
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = append(reused, i.Reused) }}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, p.URL+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	before := time.Now()
	resp, body := get("/_matrix/client/v3/sync?timeout=30000&since=s8&filter=%7B%7D")
	after := time.Now()
	if body != syncBody || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Upstream") != "yes" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("the /sync answer changed: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	if resp.ContentLength != int64(len(syncBody)) {
		t.Fatalf("the buffered /sync answer should carry its length (the client reads it to the end at once): %d", resp.ContentLength)
	}
	answers := p.Answers()
	if len(answers) != 1 || string(answers[0].Body) != syncBody || answers[0].Done.Before(before) || answers[0].Done.After(after) {
		t.Fatalf("recorded answers: %+v", answers)
	}
	at, bad := p.AnsweredAt()
	if bad != 0 || len(at) != 2 || !at["$one"].Equal(answers[0].Done) || !at["$two"].Equal(answers[0].Done) {
		t.Fatalf("AnsweredAt = %v, %d unreadable", at, bad)
	}

	// A failed /sync is forwarded as it is, and not timed.
	resp, body = get("/_matrix/client/v3/sync-failing/sync")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "$bad") {
		t.Fatalf("a failing /sync: %d %q", resp.StatusCode, body)
	}
	if len(p.Answers()) != 1 {
		t.Fatal("a failed /sync answer was recorded")
	}

	// Other requests: the same method, path, query, headers and body reach the homeserver.
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPut, p.URL+"/_matrix/client/v3/rooms/%21r:x/send/m.room.message/t1?x=1", strings.NewReader(`{"body":"hi"}`))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != `ok {"body":"hi"}` {
		t.Fatalf("PUT answer %q", b)
	}
	seen, remotes := up.requests()
	want := []string{
		"GET /_matrix/client/v3/sync?timeout=30000&since=s8&filter=%7B%7D Bearer tok ",
		"GET /_matrix/client/v3/sync-failing/sync Bearer tok ",
		`PUT /_matrix/client/v3/rooms/%21r:x/send/m.room.message/t1?x=1 Bearer tok {"body":"hi"}`,
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("the homeserver saw\n%q\nwant\n%q", seen, want)
	}
	// Keep-alive on both sides: one connection from the client, one to the homeserver.
	if len(reused) != 3 || reused[0] || !reused[1] || !reused[2] {
		t.Fatalf("client connections reused: %v, want [false true true]", reused)
	}
	if remotes[0] != remotes[1] || remotes[1] != remotes[2] {
		t.Fatalf("the proxy opened new connections to the homeserver: %v", remotes)
	}
}

func TestTimingProxyStreamsOtherRequests(t *testing.T) {
	up := newUpstream(t)
	p := startProxy(t, up.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The answer: the first piece reaches the client while the homeserver still holds the second.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("the first piece did not come through before the rest (buffered?): %q %v", first, err)
	}
	close(up.streamGo)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "second" {
		t.Fatalf("rest %q", rest)
	}

	// The request body: the homeserver reads its first piece before the client has sent the rest.
	pr, pw := io.Pipe()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/upload", pr)
	done := make(chan string, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	_, _ = io.WriteString(pw, "part1")
	select {
	case got := <-up.bodyGot:
		if got != "part1" {
			t.Fatalf("first piece %q", got)
		}
	case <-ctx.Done():
		t.Fatal("the request body's first piece did not reach the homeserver before the rest was sent (buffered?)")
	}
	_, _ = io.WriteString(pw, "+part2")
	_ = pw.Close()
	if got := <-done; got != "ok part1+part2" {
		t.Fatalf("answer %q", got)
	}
	if len(p.Answers()) != 0 {
		t.Fatal("a request other than /sync was recorded")
	}
}

func TestStartTimingProxyRejectsABadTarget(t *testing.T) {
	for _, target := range []string{"", "localhost:8008", "ftp://x", "http://"} {
		if p, err := StartTimingProxy(target); err == nil {
			_ = p.Close()
			t.Errorf("StartTimingProxy(%q): want an error", target)
		}
	}
}

func TestAddOwnAnswerSectionChecksTheTwoClientRepetitionsTogether(t *testing.T) {
	// End to end, the first repetition reads 7 ms (plain first) and the second −3 ms (gateway
	// first); against their own answers both read under 1 ms. The check takes the own-answer
	// overhead of the messages of the second and later repetitions together (only the gateway and
	// one plain client syncing), not the first repetition's, nor an end-to-end or averaged number.
	d := func(v ...float64) Dist {
		var out Dist
		for _, x := range v {
			out = append(out, ms(x))
		}
		return out
	}
	reps := []Repetition{
		{Plain: "bob (with the seed adapter syncing: not counted)", Order: PlainFirst, P50: ms(7), P99: ms(9),
			Own: AnswerOverhead{Sent: 300, Matched: 299, P50: ms(1.8), P99: ms(9), GW50: ms(1.5), GW99: ms(6), Plain50: ms(0.7), Plain99: ms(2), Diffs: d(1.8, 9)}},
		{Plain: "bob2", Order: GatewayFirst, P50: -ms(3), P99: -ms(2),
			Own: AnswerOverhead{Sent: 3, Matched: 3, P50: ms(0.5), P99: ms(4), GWNoAnswer: 2, Diffs: d(0.4, 0.5, 4)}},
		{Plain: "bob3", Order: PlainFirst, P50: ms(4), P99: ms(5),
			Own: AnswerOverhead{Sent: 2, Matched: 2, P50: ms(0.6), P99: ms(0.7), Diffs: d(0.6, 0.7)}},
	}
	r := &Report{}
	AddOwnAnswerSection(r, reps, true)
	if len(r.Sections) != 1 || len(r.Sections[0].Rows) != 4 {
		t.Fatalf("sections %+v", r.Sections)
	}
	if row := strings.Join(r.Sections[0].Rows[0], "|"); row != "1|bob|plain first|299 of 300|1.50|6.00|0.70|2.00|1.80|9.00" {
		t.Fatalf("first row %q", row)
	}
	// Together: 0.4, 0.5, 0.6, 0.7, 4 → p50 0.6 (nearest rank), p99 4.
	if row := strings.Join(r.Sections[0].Rows[3], "|"); row != "2–3|(together: the check)|both draws|5 of 5|||||0.60|4.00" {
		t.Fatalf("pooled row %q", row)
	}
	if notes := strings.Join(r.Sections[0].Notes, " "); !strings.Contains(notes, "2 arrivals had no /sync answer") || !strings.Contains(notes, "the seed adapter included") ||
		!strings.Contains(notes, "repetitions 2 to 3 together") {
		t.Fatalf("notes %q", notes)
	}
	if len(r.Targets) != 2 {
		t.Fatalf("targets %+v", r.Targets)
	}
	for i, want := range []string{"0.60 ms", "4.00 ms"} {
		if tg := r.Targets[i]; tg.Measured != want || tg.Verdict() != "MET" || !strings.Contains(tg.Name, "own /sync answer") {
			t.Errorf("target %d: %+v (%s), want %s MET", i, tg, tg.Verdict(), want)
		}
	}

	// One repetition only: it is the check.
	r = &Report{}
	AddOwnAnswerSection(r, reps[:1], true)
	if len(r.Targets) != 2 || r.Targets[0].Measured != "1.80 ms" || r.Targets[0].Verdict() != "NOT MET" {
		t.Fatalf("one repetition: targets %+v", r.Targets)
	}
	// Nothing matched in the repetitions checked: not measured, whatever the first says.
	reps[1].Own, reps[2].Own = AnswerOverhead{Sent: 300}, AnswerOverhead{Sent: 300}
	r = &Report{}
	AddOwnAnswerSection(r, reps, false)
	if len(r.Targets) != 2 || r.Targets[0].Verdict() != "—" || r.Targets[1].Verdict() != "—" || !strings.Contains(r.Targets[0].Measured, "no message of 600 matched") {
		t.Fatalf("targets %+v", r.Targets)
	}
	r = &Report{}
	AddOwnAnswerSection(r, nil, false)
	if len(r.Targets) != 2 || r.Targets[0].Verdict() != "—" {
		t.Fatalf("no repetitions: targets %+v", r.Targets)
	}
}

func TestTimingProxyBoundsWhatItKeeps(t *testing.T) {
	up := newUpstream(t)
	// One answer fits whole (len(syncBody) bytes), a second one would pass the total kept.
	p, err := startTimingProxy(up.srv.URL, len(syncBody), len(syncBody)+len(syncBody)/2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	small, err := startTimingProxy(up.srv.URL, len(syncBody)-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = small.Close() })
	get := func(base string) {
		t.Helper()
		resp, err := http.Get(base + "/_matrix/client/v3/sync")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != syncBody || resp.StatusCode != http.StatusOK {
			t.Fatalf("the /sync answer changed: %d %q %v", resp.StatusCode, b, err)
		}
	}
	get(p.URL)
	get(p.URL)
	if n := len(p.Answers()); n != 1 {
		t.Fatalf("kept %d answers, want 1 (the second is over the total)", n)
	}
	if at, bad := p.AnsweredAt(); len(at) != 2 || bad != 1 {
		t.Fatalf("AnsweredAt = %v, %d unreadable; want $one and $two, and 1 not kept", at, bad)
	}
	// An answer larger than the bound is passed on whole, not kept.
	get(small.URL)
	if at, bad := small.AnsweredAt(); len(small.Answers()) != 0 || len(at) != 0 || bad != 1 {
		t.Fatalf("a too large answer: kept %d, AnsweredAt = %v, %d unreadable; want none kept and 1 unreadable", len(small.Answers()), at, bad)
	}
}

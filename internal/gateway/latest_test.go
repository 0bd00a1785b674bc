package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func latestEventsCall(t *testing.T, srv *httptest.Server, params string) map[string]any {
	t.Helper()
	_, resp := post(t, srv, "/onebot/v12/", `{"action":"get_latest_events","params":`+params+`}`, map[string]string{"Content-Type": "application/json"})
	return resp
}

func TestGetLatestEvents(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.EventBuffer = 2
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	// The buffer starts at the first call.
	if resp := latestEventsCall(t, srv, `{}`); resp["retcode"] != float64(0) || len(resp["data"].([]any)) != 0 {
		t.Fatalf("first call %v, want no events", resp)
	}
	for _, id := range []string{"$a", "$b"} {
		ev := sampleEvent(false)
		ev.ID = id
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	// The buffer is full and it is the only consumer: the third event is held, not dropped.
	held := make(chan error, 1)
	third := sampleEvent(false)
	third.ID = "$c"
	go func() { held <- h.Publish(context.Background(), third) }()
	select {
	case err := <-held:
		t.Fatalf("Publish returned %v while the only consumer was full", err)
	case <-time.After(50 * time.Millisecond): // a bound on "not yet", not a wait for a result
	}

	resp := latestEventsCall(t, srv, `{"limit":1}`)
	evs := resp["data"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["id"] != "$a" {
		t.Fatalf("limit 1: %v", resp)
	}
	if err := <-held; err != nil { // the poll made room
		t.Fatal(err)
	}
	evs = latestEventsCall(t, srv, `{"limit":0}`)["data"].([]any)
	if len(evs) != 2 || evs[0].(map[string]any)["id"] != "$b" || evs[1].(map[string]any)["id"] != "$c" {
		t.Fatalf("the rest: %v", evs)
	}

	// With a timeout the call waits for the next event.
	got := make(chan map[string]any, 1)
	go func() { got <- latestEventsCall(t, srv, `{"timeout":10}`) }()
	live := sampleEvent(false)
	live.ID = "$d"
	if err := h.Publish(context.Background(), live); err != nil {
		t.Fatal(err)
	}
	if evs := (<-got)["data"].([]any); len(evs) != 1 || evs[0].(map[string]any)["id"] != "$d" {
		t.Fatalf("long poll: %v", evs)
	}
	if resp := latestEventsCall(t, srv, `{"limit":-1}`); resp["retcode"] != float64(v12BadParam) {
		t.Fatalf("negative limit: %v", resp)
	}
}

func TestGetLatestEventsOnlyOverHTTPAndWhenOn(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	if resp := latestEventsCall(t, srv, `{}`); resp["retcode"] != float64(v12UnsupportedAction) {
		t.Fatalf("with GATEWAY_V12_EVENT_BUFFER=0: %v", resp)
	}
	h.opts.EventBuffer = 10
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), nil)
	readJSON(t, ctx, c) // connect
	readJSON(t, ctx, c) // status_update
	if err := c.Write(ctx, 1, []byte(`{"action":"get_latest_events","echo":"x"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		f := readJSON(t, ctx, c)
		if f["echo"] != "x" {
			continue
		}
		if f["retcode"] != float64(v12UnsupportedAction) {
			t.Fatalf("over WebSocket: %v", f)
		}
		break
	}
}

// Long polls wait side by side, not one behind the other: 8 concurrent polls are all waiting at
// once, and 8 events end them all, one event each.
func TestGetLatestEventsConcurrentPollsWaitTogether(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.opts.EventBuffer = 16
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before srv.Close: a poll left waiting by a failure ends

	latestEventsCall(t, srv, `{}`) // the buffer starts at the first call
	const n = 8
	type result struct {
		events []any
		err    error
	}
	got := make(chan result, n)
	for range n {
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/onebot/v12/", strings.NewReader(`{"action":"get_latest_events","params":{"limit":1,"timeout":30}}`))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- result{err: err}
				return
			}
			defer resp.Body.Close()
			var body struct {
				Retcode int   `json:"retcode"`
				Data    []any `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Retcode != 0 {
				got <- result{err: fmt.Errorf("retcode %d, %v", body.Retcode, err)}
				return
			}
			got <- result{events: body.Data}
		}()
	}
	waitUntil(t, "all 8 polls to be waiting at once", func() bool { return h.push.LatestWaiting() == n })

	want := map[string]bool{}
	for i := range n {
		ev := sampleEvent(false)
		ev.ID = fmt.Sprintf("$e%d", i)
		want[ev.ID] = true
		if err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		r := <-got
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.events) != 1 {
			t.Fatalf("a poll with limit 1 got %d events", len(r.events))
		}
		id, _ := r.events[0].(map[string]any)["id"].(string)
		if !want[id] {
			t.Fatalf("event %q came twice or was never sent", id)
		}
		delete(want, id)
	}
	if w := h.push.LatestWaiting(); w != 0 {
		t.Fatalf("%d polls still counted as waiting", w)
	}
}

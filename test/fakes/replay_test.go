package fakes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func replayGet(t *testing.T, h *FakeReplayHomeserver, token, path string) (int, []byte) {
	t.Helper()
	return replayDo(t, h, token, http.MethodGet, path, nil)
}

func replayDo(t *testing.T, h *FakeReplayHomeserver, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type replaySync struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					EventID string         `json:"event_id"`
					Sender  string         `json:"sender"`
					Type    string         `json:"type"`
					Content map[string]any `json:"content"`
				} `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

func TestFakeReplayHomeserverReplaysTheRecording(t *testing.T) {
	rec, err := LoadSyncRecording("testdata/sync-recording.json")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewFakeReplayHomeserver(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.BatchSize = 100
	h.AddBot("tok-1", "@one:localhost")

	if code, _ := replayGet(t, h, "wrong", "/_matrix/client/v3/sync"); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: HTTP %d, want 401", code)
	}
	code, body := replayGet(t, h, "tok-1", "/_matrix/client/v3/account/whoami")
	if code != http.StatusOK || !strings.Contains(string(body), `"@one:localhost"`) {
		t.Fatalf("whoami: %d %s", code, body)
	}
	// The initial sync is the recording with the bot's own ID, starting at the released position.
	h.Release(5) // released before the bot's first sync: history, not handed over
	code, body = replayGet(t, h, "tok-1", "/_matrix/client/v3/sync")
	if code != http.StatusOK {
		t.Fatalf("initial sync: HTTP %d %s", code, body)
	}
	if strings.Contains(string(body), rec.RecordedBot) || !strings.Contains(string(body), "@one:localhost") {
		t.Fatal("the initial sync still names the recorded bot instead of @one:localhost")
	}
	var s replaySync
	if err := json.Unmarshal(body, &s); err != nil || s.NextBatch != "r5" {
		t.Fatalf("initial next_batch %q (%v), want r5", s.NextBatch, err)
	}
	if _, ok := s.Rooms.Join[rec.RoomID]; !ok {
		t.Fatal("the initial sync has not joined the recorded room")
	}

	// 250 released messages come in batches of 100, 100, 50, each unique and in order.
	h.Release(250)
	since, n := "r5", 5
	for _, want := range []int{100, 100, 50} {
		code, body := replayGet(t, h, "tok-1", "/_matrix/client/v3/sync?timeout=30000&since="+since)
		if code != http.StatusOK {
			t.Fatalf("sync since %s: HTTP %d %s", since, code, body)
		}
		var s replaySync
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatal(err)
		}
		events := s.Rooms.Join[rec.RoomID].Timeline.Events
		if len(events) != want {
			t.Fatalf("since %s: %d events, want %d", since, len(events), want)
		}
		for _, ev := range events {
			n++
			if ev.EventID != fmt.Sprintf("$replay%d", n) || ev.Content["body"] != fmt.Sprintf("replay %d", n) || ev.Type != "m.room.message" {
				t.Fatalf("event %d: %+v", n, ev)
			}
		}
		since = s.NextBatch
	}
	if since != "r255" {
		t.Fatalf("next_batch after everything: %q, want r255", since)
	}
	// Nothing left: a poll with timeout 0 answers at once with the same position.
	code, body = replayGet(t, h, "tok-1", "/_matrix/client/v3/sync?timeout=0&since="+since)
	var idle replaySync
	if err := json.Unmarshal(body, &idle); code != http.StatusOK || err != nil || idle.NextBatch != since || len(idle.Rooms.Join) != 0 {
		t.Fatalf("idle poll: HTTP %d %s", code, body)
	}
	if code, _ := replayGet(t, h, "tok-1", "/_matrix/client/v3/sync?since=bogus"); code != http.StatusBadRequest {
		t.Fatalf("a since that is not a replay position: HTTP %d, want 400", code)
	}

	// Device keys uploaded are what keys/query answers.
	keys := map[string]any{"user_id": "@one:localhost", "device_id": "DEV", "keys": map[string]string{"ed25519:DEV": "abc"}}
	code, body = replayDo(t, h, "tok-1", http.MethodPost, "/_matrix/client/v3/keys/upload",
		map[string]any{"device_keys": keys, "one_time_keys": map[string]any{"signed_curve25519:A": "x", "signed_curve25519:B": "y"}})
	if code != http.StatusOK || !strings.Contains(string(body), `"signed_curve25519":2`) {
		t.Fatalf("keys/upload: %d %s", code, body)
	}
	// Like Synapse, every sync answer (an idle one too) says how many one-time keys are left.
	code, body = replayGet(t, h, "tok-1", "/_matrix/client/v3/sync?timeout=0&since="+since)
	var counted struct {
		NextBatch string         `json:"next_batch"`
		OTKs      map[string]int `json:"device_one_time_keys_count"`
	}
	if err := json.Unmarshal(body, &counted); code != http.StatusOK || err != nil || counted.NextBatch != since || counted.OTKs["signed_curve25519"] != 2 {
		t.Fatalf("idle poll after 2 one-time keys were uploaded: HTTP %d %s, want device_one_time_keys_count 2", code, body)
	}
	code, body = replayDo(t, h, "tok-1", http.MethodPost, "/_matrix/client/v3/keys/query", map[string]any{"device_keys": map[string]any{"@one:localhost": []string{}}})
	if code != http.StatusOK || !strings.Contains(string(body), `"ed25519:DEV":"abc"`) {
		t.Fatalf("keys/query: %d %s", code, body)
	}

	if code, _ := replayGet(t, h, "tok-1", "/_matrix/client/v3/not/served"); code != http.StatusNotFound {
		t.Fatalf("unknown endpoint: HTTP %d", code)
	}
	if got := h.Unserved()["GET /_matrix/client/v3/not/served"]; got != 1 {
		t.Fatalf("unserved count %d, want 1", got)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/fakes"
	"github.com/matrix-onebot/gateway/test/harness"
)

// runRecord records, from a throwaway real Synapse, what the stand-in homeserver replays: the
// bot's initial /sync with one room joined, one message of another member as /sync delivers
// it, and the room's member lists. Access tokens and device IDs are not in these answers.
func runRecord(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("record", flag.ContinueOnError)
	out := fs.String("out", "test/fakes/testdata/sync-recording.json", "where to write the recording (relative to the repository root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-record-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	hs, err := harness.StartSynapse(sctx, harness.SynapseOptions{Dir: dir})
	cancel()
	if err != nil {
		return err
	}
	defer hs.Stop()
	bot, err := hs.RegisterUser(ctx, "bot", "pw-bot-record", false)
	if err != nil {
		return err
	}
	alice, err := hs.RegisterUser(ctx, "alice", "pw-alice-record", false)
	if err != nil {
		return err
	}
	aliceCli, err := hs.Client(alice)
	if err != nil {
		return err
	}
	botCli, err := hs.Client(bot)
	if err != nil {
		return err
	}
	created, err := aliceCli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "bench", Invite: []id.UserID{id.UserID(bot.UserID)}})
	if err != nil {
		return err
	}
	room := created.RoomID
	if _, err := botCli.JoinRoomByID(ctx, room); err != nil {
		return err
	}
	get := func(path string, q url.Values) (json.RawMessage, error) {
		u := hs.URL() + path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+bot.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, b)
		}
		return compact(b)
	}
	initial, err := get("/_matrix/client/v3/sync", url.Values{"timeout": {"0"}})
	if err != nil {
		return err
	}
	var pos struct {
		NextBatch string `json:"next_batch"`
	}
	if err := json.Unmarshal(initial, &pos); err != nil {
		return err
	}
	if _, err := aliceCli.SendText(ctx, room, "hello from the recording"); err != nil {
		return err
	}
	rec := &fakes.SyncRecording{RecordedBot: bot.UserID, RoomID: string(room), Initial: initial}
	deadline := time.Now().Add(time.Minute)
	for rec.Message == nil {
		if time.Now().After(deadline) {
			return fmt.Errorf("the message did not come down /sync within a minute")
		}
		raw, err := get("/_matrix/client/v3/sync", url.Values{"since": {pos.NextBatch}, "timeout": {"10000"}})
		if err != nil {
			return err
		}
		var s struct {
			NextBatch string `json:"next_batch"`
			Rooms     struct {
				Join map[string]struct {
					Timeline struct {
						Events []json.RawMessage `json:"events"`
					} `json:"timeline"`
				} `json:"join"`
			} `json:"rooms"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		pos.NextBatch = s.NextBatch
		for _, ev := range s.Rooms.Join[string(room)].Timeline.Events {
			var head struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(ev, &head) == nil && head.Type == "m.room.message" {
				rec.Message = ev
			}
		}
	}
	if rec.Members, err = get("/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/members", nil); err != nil {
		return err
	}
	if rec.JoinedMembers, err = get("/_matrix/client/v3/rooms/"+url.PathEscape(string(room))+"/joined_members", nil); err != nil {
		return err
	}
	rec.Homeserver = "Synapse"
	if v, err := get("/_synapse/admin/v1/server_version", nil); err == nil {
		var sv struct {
			ServerVersion string `json:"server_version"`
		}
		if json.Unmarshal(v, &sv) == nil && sv.ServerVersion != "" {
			rec.Homeserver = "Synapse " + sv.ServerVersion
		}
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: recorded %s (%d bytes) from %s\n", path, len(b), rec.Homeserver)
	return nil
}

func compact(b []byte) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

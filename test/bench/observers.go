package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// ObserveSync is the plain Matrix client of the benchmark: it long-polls /sync (30 s, like the
// gateway; TimelineFilter) as user and reports each m.room.message of its joined rooms by event ID, and by
// "body:TEXT" (how echo replies are recognised). The history of the first sync is skipped; once
// it has been read, "ready:NAME" is reported (NAME: the reporter's observer name, "sync" unless
// the benchmark names it otherwise).
func ObserveSync(ctx context.Context, homeserver, userID, token string, rep *Reporter) error {
	cli, err := mautrix.NewClient(homeserver, id.UserID(userID), token)
	if err != nil {
		return fmt.Errorf("failed to create the sync client: %w", err)
	}
	since := ""
	for {
		resp, err := cli.SyncRequest(ctx, 30000, since, TimelineFilter, false, "")
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("plain /sync: %w", err)
		}
		if since == "" {
			rep.Report("ready:" + rep.observer)
		} else {
			for _, r := range resp.Rooms.Join {
				for _, evt := range r.Timeline.Events {
					if evt.Type != event.EventMessage {
						continue
					}
					rep.Report(string(evt.ID))
					if body, ok := evt.Content.Raw["body"].(string); ok {
						rep.Report("body:" + body)
					}
				}
			}
		}
		since = resp.NextBatch
	}
}

// TimelineFilter is the /sync filter of the plain client and of nonebot-adapter-matrix: without
// one, Synapse sends at most 10 events of a room per /sync ("limited"), and a client that does
// not fill the gap (the gateway does) misses messages when more than 10 arrive between two
// syncs.
const TimelineFilter = `{"room":{"timeline":{"limit":1000}}}`

// V12Frame is the part of a OneBot v12 event or action answer the observers read.
type V12Frame struct {
	Type       string `json:"type"`
	DetailType string `json:"detail_type"`
	MessageID  string `json:"message_id"`
	GroupID    string `json:"group_id"`
	AltMessage string `json:"alt_message"`
	Message    []struct {
		Type string `json:"type"`
		Data struct {
			Text string `json:"text"`
		} `json:"data"`
	} `json:"message"`
	// An action answer.
	Status  string `json:"status"`
	Retcode int    `json:"retcode"`
	Echo    string `json:"echo"`
}

// Text is the plain text of a message event.
func (f *V12Frame) Text() string {
	var b strings.Builder
	for _, s := range f.Message {
		if s.Type == "text" {
			b.WriteString(s.Data.Text)
		}
	}
	if b.Len() == 0 {
		return f.AltMessage
	}
	return b.String()
}

// DialV12 opens a OneBot v12 forward WebSocket to the gateway at baseURL (http://host:port).
func DialV12(ctx context.Context, baseURL, token string) (*websocket.Conn, error) {
	url := "ws" + strings.TrimPrefix(baseURL, "http") + "/onebot/v12/"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		return nil, fmt.Errorf("failed to dial %s: %w", url, err)
	}
	c.SetReadLimit(1 << 24)
	return c, nil
}

// ObserveV12 is the OneBot v12 forward-WebSocket client of the benchmark: it reports each message
// event by message_id (the Matrix event ID), timed when its frame is read, and reports
// "ready:NAME" once connected. With echo, a message "/wsecho TEXT" is answered with TEXT by a
// send_message action on the same connection (the direct v12 WS echo).
func ObserveV12(ctx context.Context, baseURL, token, name string, echo bool, rep *Reporter) error {
	c, err := DialV12(ctx, baseURL, token)
	if err != nil {
		return err
	}
	defer c.CloseNow()
	rep.Report("ready:" + name)
	var seq atomic.Int64
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("OneBot connection: %w", err)
		}
		var f V12Frame
		if json.Unmarshal(data, &f) != nil {
			continue
		}
		switch {
		case f.Type == "message" && strings.HasPrefix(f.MessageID, "$"):
			rep.Report(f.MessageID)
			if text, ok := strings.CutPrefix(f.Text(), "/wsecho "); echo && ok {
				if err := sendV12(ctx, c, f, text, seq.Add(1)); err != nil {
					return err
				}
			}
		case f.Status != "" && f.Retcode != 0:
			rep.Report("failed:" + f.Echo)
		}
	}
}

func sendV12(ctx context.Context, c *websocket.Conn, f V12Frame, text string, n int64) error {
	params := map[string]any{"detail_type": f.DetailType, "message": []any{map[string]any{"type": "text", "data": map[string]string{"text": text}}}}
	if f.GroupID != "" {
		params["group_id"] = f.GroupID
	}
	b, err := json.Marshal(map[string]any{"action": "send_message", "params": params, "echo": fmt.Sprint(n)})
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("failed to send the echo: %w", err)
	}
	return nil
}

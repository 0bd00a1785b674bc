// Package syncapi is the Client-Server API a bot's sync loop reads: one /sync request with every
// event kept raw (Response), the sync filter, a limited timeline's gap filled in from /messages,
// and the parsing of one raw event.
package syncapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
)

// Client makes a bot's sync requests.
type Client struct {
	acct *account.Account
}

// New returns acct's sync client.
func New(acct *account.Account) *Client { return &Client{acct: acct} }

// Response is /sync with every event kept raw, so that one malformed event is skipped instead
// of failing the whole batch.
type Response struct {
	Crypto                // the encryption part, kept raw for end-to-end encryption
	NextBatch   string    `json:"next_batch"`
	AccountData RawEvents `json:"account_data"`
	Rooms       struct {
		Join   map[id.RoomID]*JoinedRoom `json:"join"`
		Invite map[id.RoomID]*struct {
			InviteState RawEvents `json:"invite_state"`
		} `json:"invite"`
		Leave map[id.RoomID]*JoinedRoom `json:"leave"`
	} `json:"rooms"`
}

// Crypto is the encryption part of a sync response, each field as the homeserver sent it (nil
// when it did not send it): to-device events, device list changes, one-time key counts and the
// unused fallback key types. e2ee.Machine.ProcessSync reads it (JSON) instead of the whole body,
// which would be scanned twice more for these few fields.
type Crypto struct {
	ToDevice       json.RawMessage `json:"to_device,omitempty"`
	DeviceLists    json.RawMessage `json:"device_lists,omitempty"`
	DeviceOTKCount json.RawMessage `json:"device_one_time_keys_count,omitempty"`
	FallbackKeys   json.RawMessage `json:"device_unused_fallback_key_types,omitempty"`
}

// Quiet tells that the encryption part holds no to-device event (room keys among them) and no
// device list change: nothing that the answer's room events need handled before them (only the
// key counts, which can wait until they are handed over).
func (c *Crypto) Quiet() bool {
	var td struct {
		Events []json.RawMessage `json:"events"`
	}
	var dl struct {
		Changed []json.RawMessage `json:"changed"`
		Left    []json.RawMessage `json:"left"`
	}
	return (len(c.ToDevice) == 0 || json.Unmarshal(c.ToDevice, &td) == nil && len(td.Events) == 0) &&
		(len(c.DeviceLists) == 0 || json.Unmarshal(c.DeviceLists, &dl) == nil && len(dl.Changed) == 0 && len(dl.Left) == 0)
}

// JSON is the encryption part as a JSON object with the fields of a /sync body.
func (c *Crypto) JSON() []byte {
	b, err := json.Marshal(c)
	if err != nil { // a field the decoder took is not valid JSON: cannot happen
		return []byte("{}")
	}
	return b
}

// RawEvents are a section's events, each kept raw.
type RawEvents struct {
	Events []json.RawMessage `json:"events"`
}

// JoinedRoom is a joined (or left) room of a sync response.
type JoinedRoom struct {
	State     RawEvents `json:"state"`
	Ephemeral RawEvents `json:"ephemeral"` // typing and receipts
	Timeline  struct {
		Events    []json.RawMessage `json:"events"`
		Limited   bool              `json:"limited"`
		PrevBatch string            `json:"prev_batch"`
	} `json:"timeline"`
}

const (
	// maxGapEvents bounds how far back a limited timeline is filled in from /messages.
	maxGapEvents = 1000
	gapPageSize  = 100
)

// Sync makes one /sync request: since (none for a first sync), filterID (none: unfiltered) and
// the long poll's timeout.
func (s *Client) Sync(ctx context.Context, since, filterID string, timeout time.Duration) (*Response, error) {
	q := map[string]string{"timeout": strconv.FormatInt(timeout.Milliseconds(), 10)}
	if since != "" {
		q["since"] = since
	}
	if filterID != "" {
		q["filter"] = filterID
	}
	if p := s.acct.Config.SetPresence; p != "" {
		q["set_presence"] = p
	}
	var b body // body.go
	defer b.release()
	raw, err := s.acct.Client().MakeFullRequest(ctx, mautrix.FullRequest{
		Method:      http.MethodGet,
		URL:         s.acct.Client().BuildURLWithQuery(mautrix.ClientURLPath{"v3", "sync"}, q),
		MaxAttempts: 1,
		Client:      s.acct.SyncHTTP(),
		Handler:     b.read,
	})
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

// Decode decodes a /sync response body.
func Decode(body []byte) (*Response, error) {
	var resp Response
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("failed to decode /sync: %w", err)
	}
	if resp.NextBatch == "" {
		return nil, errors.New("sync response without next_batch")
	}
	return &resp, nil
}

// DefaultFilter is the filter of a bot without sync_filter, passed inline: without one, a
// homeserver sends at most 10 events of a room per /sync (Synapse's default) and marks the
// timeline limited, and the gateway then fills the gap from /messages — two or more more round
// trips on the sync loop before any event of the batch is handed over, whenever more than 10
// messages came in between two syncs (a busy room, a slow homeserver, a catch-up). With 100
// (one gap page) such a batch comes whole in the /sync answer; a plain client such as
// nonebot-adapter-matrix asks for 1000.
const DefaultFilter = `{"room":{"timeline":{"limit":100}}}`

// FilterID returns the filter to sync with: sync_filter as an ID, or the inline JSON uploaded
// once (the returned ID is kept in the database under the filter's content), or DefaultFilter
// inline when there is no sync_filter.
func (s *Client) FilterID(ctx context.Context) string {
	if fid, ok := s.acct.Config.SyncFilterID(); ok {
		return fid
	}
	raw, ok := s.acct.Config.SyncFilterJSON()
	if !ok {
		return DefaultFilter
	}
	key := "filter:" + string(s.acct.UserID()) + ":" + string(raw)
	if fid, err := s.acct.DB.KV().GetValue(ctx, key); err == nil {
		return fid
	}
	var f mautrix.Filter
	if err := json.Unmarshal(raw, &f); err != nil {
		s.acct.Log().Error("sync_filter is not a valid filter; syncing without it", "error", err)
		return ""
	}
	resp, err := s.acct.Client().CreateFilter(ctx, &f)
	if err != nil {
		// Inline JSON also works as the filter parameter of /sync.
		s.acct.Log().Warn("failed to upload sync_filter; passing it inline", "error", err)
		return string(raw)
	}
	if err := s.acct.DB.KV().SetValue(ctx, key, resp.FilterID); err != nil {
		s.acct.Log().Warn("failed to remember the filter id", "error", err)
	}
	return resp.FilterID
}

// OwnJoinIndex returns the position of the bot's own join in timeline, parsed (nil where
// malformed): a membership change to join, not a profile change; -1 when there is none.
func (s *Client) OwnJoinIndex(timeline []*event.Event) int {
	me := string(s.acct.UserID())
	for i, evt := range timeline {
		if evt == nil || evt.Type != event.StateMember || evt.StateKey == nil || *evt.StateKey != me {
			continue
		}
		if c, ok := evt.Content.Parsed.(*event.MemberEventContent); ok && c.Membership == event.MembershipJoin &&
			PrevMembership(evt) != event.MembershipJoin {
			return i
		}
	}
	return -1
}

// PrevMembership is the membership an m.room.member event replaced (unsigned.prev_content), or "".
func PrevMembership(evt *event.Event) event.Membership {
	pc := evt.Unsigned.PrevContent
	if pc == nil {
		return ""
	}
	if m, ok := pc.Parsed.(*event.MemberEventContent); ok {
		return m.Membership
	}
	var m event.MemberEventContent
	if json.Unmarshal(pc.VeryRaw, &m) != nil {
		return ""
	}
	return m.Membership
}

// FillGap fetches the events a limited timeline left out, from prevBatch back to since, so that
// none is skipped. It returns them oldest first, without those already in timeline.
func (s *Client) FillGap(ctx context.Context, roomID id.RoomID, prevBatch, since string, timeline []json.RawMessage) []json.RawMessage {
	seen := map[string]bool{}
	for _, raw := range timeline {
		var probe struct {
			ID string `json:"event_id"`
		}
		if json.Unmarshal(raw, &probe) == nil {
			seen[probe.ID] = true
		}
	}
	// The newest event at or before since is where the gap ends. `to` should stop the paging
	// there, but Dendrite (v0.13.8) pages past a sync token given as `to`, back to the room's
	// creation, which would deliver old events again: stop at this event too.
	boundary := s.eventBefore(ctx, roomID, since)
	var back []json.RawMessage // newest first
	from := prevBatch
paging:
	for len(back) < maxGapEvents {
		var page struct {
			Chunk []json.RawMessage `json:"chunk"`
			End   string            `json:"end"`
		}
		_, err := s.acct.Client().MakeFullRequest(ctx, mautrix.FullRequest{
			Method: http.MethodGet,
			URL: s.acct.Client().BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
				map[string]string{"from": from, "to": since, "dir": "b", "limit": strconv.Itoa(gapPageSize)}),
			ResponseJSON: &page,
			MaxAttempts:  3,
		})
		if err != nil {
			s.acct.Log().Error("failed to fill a gap in the timeline; some events may be missing", "room_id", roomID, "error", err)
			break
		}
		for _, raw := range page.Chunk {
			var probe struct {
				ID string `json:"event_id"`
			}
			if json.Unmarshal(raw, &probe) != nil {
				continue
			}
			if boundary != "" && probe.ID == boundary {
				break paging
			}
			if !seen[probe.ID] {
				seen[probe.ID] = true
				back = append(back, raw)
			}
		}
		if len(page.Chunk) == 0 || page.End == "" || page.End == from {
			break
		}
		from = page.End
	}
	if len(back) >= maxGapEvents {
		s.acct.Log().Warn("timeline gap larger than the fill limit; older events skipped", "room_id", roomID, "limit", maxGapEvents)
	}
	out := make([]json.RawMessage, len(back))
	for i, raw := range back {
		out[len(back)-1-i] = raw
	}
	if len(out) > 0 {
		s.acct.Log().Info("filled a timeline gap", "room_id", roomID, "events", len(out))
	}
	return out
}

// eventBefore returns the ID of the newest event of the room at or before the sync token since
// ("" if there is none or the homeserver cannot say: the gap is then bounded by `to` alone).
func (s *Client) eventBefore(ctx context.Context, roomID id.RoomID, since string) string {
	var page struct {
		Chunk []struct {
			ID string `json:"event_id"`
		} `json:"chunk"`
	}
	_, err := s.acct.Client().MakeFullRequest(ctx, mautrix.FullRequest{
		Method: http.MethodGet,
		URL: s.acct.Client().BuildURLWithQuery(mautrix.ClientURLPath{"v3", "rooms", roomID, "messages"},
			map[string]string{"from": since, "dir": "b", "limit": "1"}),
		ResponseJSON: &page,
		MaxAttempts:  3,
	})
	if err != nil || len(page.Chunk) == 0 {
		return ""
	}
	return page.Chunk[0].ID
}

// ParseEvent parses one raw event of roomID ("" for account data); a malformed one is logged
// and skipped (nil).
func ParseEvent(log *slog.Logger, raw json.RawMessage, roomID id.RoomID) *event.Event {
	var evt event.Event
	// Not through json.Unmarshal, which would first validate and scan the bytes only to hand
	// them to Event.UnmarshalJSON, which validates them again (once per incoming event).
	if err := unmarshalEvent(raw, &evt); err != nil {
		log.Warn("skipping malformed event", "room_id", roomID, "error", err)
		return nil
	}
	if roomID != "" {
		evt.RoomID = roomID
	}
	evt.Type.Class = EventClass(&evt)
	if err := evt.Content.ParseRaw(evt.Type); err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) {
		if !errors.Is(err, event.ErrUnsupportedContentType) {
			log.Warn("skipping event with malformed content", "room_id", roomID, "event_id", evt.ID, "type", evt.Type.Type, "error", err)
			return nil
		}
	}
	return &evt
}

// EventClass tells which class an event of a sync response is: state, account data, or message.
func EventClass(evt *event.Event) event.TypeClass {
	switch {
	case evt.StateKey != nil:
		return event.StateEventType
	case evt.RoomID == "" && evt.ID == "":
		return event.AccountDataEventType
	}
	return event.MessageEventType
}

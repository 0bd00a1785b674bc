package gateway

import (
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
)

// v11 actions that go-cqhttp serves and that have a Matrix counterpart (or an honest empty
// answer): set_group_admin, set_group_whole_ban, set_group_card for the bot itself,
// get_group_honor_info, can_send_image / can_send_record, .handle_quick_operation, and the
// _async / _rate_limited forms of every v11 action.

func moderator(c *call) (model.Moderator, error) {
	m, ok := model.As[model.Moderator](c.bot.bot)
	if !ok {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "this bot cannot change power levels")
	}
	return m, nil
}

type v11SetGroupAdminParams struct {
	GroupID flexInt   `json:"group_id"`
	UserID  flexInt   `json:"user_id"`
	Enable  *flexBool `json:"enable,omitempty"` // default true
}

// v11SetGroupAdmin gives power level 50 (admin), or with enable false takes the user's own
// level away (back to the room's default).
func v11SetGroupAdmin(c *call, p v11SetGroupAdminParams) (*noData, error) {
	room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	m, err := moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetAdmin(c.ctx, room, u, p.Enable == nil || bool(*p.Enable))
}

type v11SetGroupWholeBanParams struct {
	GroupID flexInt   `json:"group_id"`
	Enable  *flexBool `json:"enable,omitempty"` // default true
}

// v11SetGroupWholeBan mutes the whole room: its default send level goes to 50 (admins only),
// and back with enable false.
func v11SetGroupWholeBan(c *call, p v11SetGroupWholeBanParams) (*noData, error) {
	room, err := c.v11Room(p.GroupID)
	if err != nil {
		return nil, err
	}
	m, err := moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetWholeMute(c.ctx, room, p.Enable == nil || bool(*p.Enable))
}

type v11SetGroupCardParams struct {
	GroupID flexInt `json:"group_id"`
	UserID  flexInt `json:"user_id"`
	Card    string  `json:"card,omitempty"`
}

// v11SetGroupCard sets a member's group card: on Matrix only the bot's own, as its per-room
// display name ("" = back to its global name). Matrix lets nobody set another user's name.
func v11SetGroupCard(c *call, p v11SetGroupCardParams) (*noData, error) {
	room, u, err := c.v11RoomUser(p.GroupID, p.UserID)
	if err != nil {
		return nil, err
	}
	if u != c.bot.bot.UserID() {
		return nil, model.Errorf(model.ErrBadParam, "on Matrix only a user sets their own display name: set_group_card works for the bot itself (user_id %d)", c.bot.selfID)
	}
	if len(p.Card) > 255 {
		return nil, model.Errorf(model.ErrBadParam, "card is longer than 255 bytes")
	}
	m, err := moderator(c)
	if err != nil {
		return nil, err
	}
	return nil, m.SetOwnRoomName(c.ctx, room, strings.TrimSpace(p.Card))
}

type v11GroupHonorParams struct {
	GroupID flexInt `json:"group_id"`
	Type    string  `json:"type,omitempty"`
}

// v11HonorInfo answers get_group_honor_info: nobody holds an honor. Result types: their fields
// are in the order of their JSON names, so that they marshal as the maps they were.
type v11HonorInfo struct {
	CurrentTalkative json.RawMessage   `json:"current_talkative"` // always null
	EmotionList      []json.RawMessage `json:"emotion_list"`
	GroupID          int64             `json:"group_id"`
	LegendList       []json.RawMessage `json:"legend_list"`
	PerformerList    []json.RawMessage `json:"performer_list"`
	StrongNewbieList []json.RawMessage `json:"strong_newbie_list"`
	TalkativeList    []json.RawMessage `json:"talkative_list"`
}

// v11GetGroupHonorInfo answers with empty lists: Matrix rooms have no honors.
func v11GetGroupHonorInfo(c *call, p v11GroupHonorParams) (*v11HonorInfo, error) {
	if _, err := c.v11Room(p.GroupID); err != nil {
		return nil, err
	}
	switch p.Type {
	case "", "all", "talkative", "performer", "legend", "strong_newbie", "emotion":
	default:
		return nil, model.Errorf(model.ErrBadParam, "type must be talkative, performer, legend, strong_newbie, emotion or all")
	}
	none := []json.RawMessage{}
	return &v11HonorInfo{
		GroupID: int64(p.GroupID), TalkativeList: none, PerformerList: none, LegendList: none, StrongNewbieList: none, EmotionList: none,
	}, nil
}

// v11Yes answers can_send_image and can_send_record.
type v11Yes struct {
	Yes bool `json:"yes"`
}

// v11CanSend answers whether the bot can send media: it can when the gateway takes in files.
func v11CanSend(c *call) (*v11Yes, error) {
	return &v11Yes{Yes: c.hub.opts.Media != nil}, nil
}

type v11QuickOperationParams struct {
	Context   json.RawMessage `json:"context"`
	Operation json.RawMessage `json:"operation"`
}

// v11HandleQuickOperation runs a quick operation on an event, as an HTTP POST reply would
// (go-cqhttp's .handle_quick_operation).
func v11HandleQuickOperation(c *call, p v11QuickOperationParams) (*noData, error) {
	var ev quickContext
	if len(p.Context) == 0 || json.Unmarshal(p.Context, &ev) != nil || ev.PostType == "" {
		return nil, model.Errorf(model.ErrBadParam, "context must be the event object the operation answers")
	}
	if len(p.Operation) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "operation is required")
	}
	op, err := decodeQuickOperation(p.Operation)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "operation: %v", err)
	}
	steps, ignored, err := quickSteps(ev, op)
	if err != nil {
		return nil, model.Errorf(model.ErrBadParam, "operation: %v", err)
	}
	if len(ignored) > 0 {
		return nil, model.Errorf(model.ErrBadParam, "operation keys that do not apply to a %s event: %s", ev.PostType, strings.Join(ignored, ", "))
	}
	for _, s := range steps {
		if _, err := c.hub.calls.run(c.ctx, 11, c.bot, s.action, mustJSON(s.params)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// --- _async and _rate_limited ------------------------------------------------------------

// detachedTimeout bounds an action run in the background (_async, _rate_limited).
const detachedTimeout = 5 * time.Minute

// rateLimitedEvery is the pace of _rate_limited actions (go-cqhttp's default: one a second),
// and rateLimitedMax how many may wait; more are refused.
const (
	rateLimitedEvery = time.Second
	rateLimitedMax   = 1000
)

// detachedMax is how many _async and _rate_limited actions may be running or waiting at once in
// the whole gateway; more are refused.
const detachedMax = 1000

// rateGate paces the _rate_limited actions of the whole gateway, and counts every detached one.
type rateGate struct {
	mu       sync.Mutex
	next     time.Time
	waiting  int
	detached atomic.Int64 // _async and _rate_limited actions running or waiting
}

// reserve returns how long a new call waits for its turn, or false when too many wait.
func (g *rateGate) reserve(now time.Time) (time.Duration, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waiting >= rateLimitedMax {
		return 0, false
	}
	g.waiting++
	if g.next.Before(now) {
		g.next = now
	}
	wait := g.next.Sub(now)
	g.next = g.next.Add(rateLimitedEvery)
	return wait, true
}

func (g *rateGate) done() {
	g.mu.Lock()
	g.waiting--
	g.mu.Unlock()
}

// v11Suffixed splits name into a v11 action and its go-cqhttp suffix (_async or
// _rate_limited); suffix is "" when name is an action as it is.
func v11Suffixed(name string) (base, suffix string) {
	if lookupAction(11, name) != nil {
		return name, ""
	}
	for _, sfx := range []string{"_async", "_rate_limited"} {
		if b, ok := strings.CutSuffix(name, sfx); ok && lookupAction(11, b) != nil {
			return b, sfx
		}
	}
	return name, ""
}

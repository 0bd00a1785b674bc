package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// handler runs one action. It returns the response data or an error that the codec maps.
type handler func(c *call) (any, error)

// call is one action invocation.
type call struct {
	ctx     context.Context
	hub     *Hub
	version int
	bot     *botEntry // nil for actions that need no bot
	params  json.RawMessage
}

// decode unmarshals the params into v; a malformed value is a bad-param error.
func (c *call) decode(v any) error {
	p := c.params
	if len(bytes.TrimSpace(p)) == 0 || bytes.Equal(bytes.TrimSpace(p), []byte("null")) {
		p = []byte("{}")
	}
	if err := json.Unmarshal(p, v); err != nil {
		return protoErr(v12BadParam, v11BadRequest, "bad params: %v", err)
	}
	return nil
}

// action is one row of THE action table: dispatch, get_supported_actions and the OpenAPI check
// (api/openapi.yaml, see openapi_test.go) all read this table and nothing else.
type action struct {
	Version  int    // 11 or 12
	Name     string // the action name on the wire
	NeedsBot bool   // it acts as one bot (v12: chosen by `self`, or the only bot)
	Summary  string
	Handle   handler
}

// actionTable lists every action the gateway serves. It is filled in init because
// get_supported_actions reads it.
var actionTable []action

var actionIndex map[int]map[string]*action

func init() {
	actionTable = []action{
		// OneBot v12
		{12, "send_message", true, "Send a message to a room (detail_type group) or to a user's direct room (private).", v12SendMessage},
		{12, "get_self_info", true, "The bot's Matrix user ID and display name.", v12GetSelfInfo},
		{12, "get_status", false, "Whether every bot is online and syncing.", v12GetStatus},
		{12, "get_version", false, "Implementation name and version.", v12GetVersion},
		{12, "get_supported_actions", false, "Every v12 action this gateway serves.", v12GetSupportedActions},
		// OneBot v11
		{11, "send_msg", true, "Send a group (room) or private (direct room) message.", v11SendMsg},
		{11, "send_group_msg", true, "Send a message to a room.", v11SendGroupMsg},
		{11, "send_private_msg", true, "Send a message to a user's direct room.", v11SendPrivateMsg},
		{11, "get_login_info", true, "The bot's self_id and nickname.", v11GetLoginInfo},
		{11, "get_status", true, "Whether the bot is online and syncing.", v11GetStatus},
		{11, "get_version_info", false, "Implementation name and version.", v11GetVersionInfo},
	}
	actionIndex = map[int]map[string]*action{11: {}, 12: {}}
	for i := range actionTable {
		a := &actionTable[i]
		if _, dup := actionIndex[a.Version][a.Name]; dup {
			panic("gateway: action listed twice: " + a.Name)
		}
		actionIndex[a.Version][a.Name] = a
	}
}

func lookupAction(version int, name string) *action { return actionIndex[version][name] }

// supportedActions returns the names of one version's actions, sorted.
func supportedActions(version int) []string {
	var names []string
	for _, a := range actionTable {
		if a.Version == version {
			names = append(names, a.Name)
		}
	}
	sort.Strings(names)
	return names
}

// protoError is a failure that is the client's doing, with its code in each protocol.
type protoError struct {
	v12, v11 int
	msg      string
}

func (e *protoError) Error() string { return e.msg }

func protoErr(v12, v11 int, format string, args ...any) *protoError {
	return &protoError{v12: v12, v11: v11, msg: fmt.Sprintf(format, args...)}
}

// run looks an action up and runs it.
func (h *Hub) run(ctx context.Context, version int, bot *botEntry, name string, params json.RawMessage) (any, error) {
	a := lookupAction(version, name)
	if a == nil {
		return nil, protoErr(v12UnsupportedAction, v11UnsupportedAction, "unsupported action: %q", name)
	}
	if a.NeedsBot && bot == nil {
		return nil, protoErr(v12WhoAmI, v11BadRequest, "several bots are served here: say which one with self")
	}
	c := &call{ctx: ctx, hub: h, version: version, bot: bot, params: params}
	data, err := a.Handle(c)
	if err != nil {
		var pe *protoError
		if !errors.As(err, &pe) {
			h.log.Warn("action failed", "action", name, "version", version, "error", err)
		}
	}
	return data, err
}

package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// handler runs one action: it returns the response data or an error that the codec maps. It
// knows the Go types of its params and of its data, from which api/openapi.yaml is checked
// field by field (openapi_params_test.go).
type handler struct {
	run    func(c *call) (any, error)
	params reflect.Type // what the params are decoded into; nil when the action takes none
	result reflect.Type // the data it answers; *noData for null
}

// noData is the result of an action that answers null data: its handler returns (*noData)(nil).
type noData struct{}

// data is a handler's result as response data: nil after an error and for *noData.
func data[R any](r R, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	if _, ok := any(r).(*noData); ok {
		return nil, nil
	}
	return r, nil
}

// call is one action invocation.
type call struct {
	ctx     context.Context
	hub     *Hub
	version int
	bot     *botEntry // nil for actions that need no bot
	params  json.RawMessage
}

// withParams adapts a handler that takes its params decoded into P (a malformed value is a
// bad-param error before the handler runs) and answers R.
func withParams[P, R any](fn func(c *call, p P) (R, error)) handler {
	return handler{params: reflect.TypeFor[P](), result: reflect.TypeFor[R](), run: func(c *call) (any, error) {
		var p P
		if err := c.decode(&p); err != nil {
			return nil, err
		}
		return data(fn(c, p))
	}}
}

// noParams adapts a handler that takes no params and answers R.
func noParams[R any](fn func(c *call) (R, error)) handler {
	return handler{result: reflect.TypeFor[R](), run: func(c *call) (any, error) { return data(fn(c)) }}
}

// decodesOwn adapts a handler that decodes its params into P itself (c.decode), after checks
// that come first, and answers R.
func decodesOwn[P, R any](fn func(c *call) (R, error)) handler {
	return handler{params: reflect.TypeFor[P](), result: reflect.TypeFor[R](), run: func(c *call) (any, error) { return data(fn(c)) }}
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
		{12, "send_message", true, "Send a message to a room (detail_type group) or to a user's direct room (private).", withParams(v12SendMessage)},
		{12, "get_self_info", true, "The bot's Matrix user ID and display name.", noParams(v12GetSelfInfo)},
		{12, "get_status", false, "Whether every bot is online and syncing.", noParams(v12GetStatus)},
		{12, "get_version", false, "Implementation name and version.", noParams(v12GetVersion)},
		{12, "get_supported_actions", false, "Every v12 action this gateway serves.", noParams(v12GetSupportedActions)},
		{12, "get_latest_events", false, "HTTP only: events since the last call (limit, timeout in seconds to wait for one).", decodesOwn[getLatestEventsParams](v12GetLatestEvents)},
		// OneBot v11
		{11, "send_msg", true, "Send a group (room) or private (direct room) message.", withParams(v11SendMsg)},
		{11, "send_group_msg", true, "Send a message to a room.", withParams(v11SendGroupMsg)},
		{11, "send_private_msg", true, "Send a message to a user's direct room.", withParams(v11SendPrivateMsg)},
		{11, "get_login_info", true, "The bot's self_id and nickname.", noParams(v11GetLoginInfo)},
		{11, "get_status", true, "Whether the bot is online and syncing.", noParams(v11GetStatus)},
		{11, "get_version_info", false, "Implementation name and version.", noParams(v11GetVersionInfo)},
		// Messages and files (handlers_v11.go, handlers_v12.go, files.go).
		{11, "get_msg", true, "A message the gateway has seen or sent, from its message index (also after a restart).", withParams(v11GetMsg)},
		{12, "matrix.get_message", true, "A message the gateway has seen or sent, as its message event, from the message index.", withParams(v12GetMessage)},
		{12, "upload_file", false, "Store a file (from a URL, a path in GATEWAY_MEDIA_LOCAL_DIR, or bytes) for media segments.", withParams(v12UploadFile)},
		{12, "upload_file_fragmented", false, "Upload a file in parts: prepare, transfer, finish.", withParams(v12UploadFileFragmented)},
		{12, "get_file", false, "A file as a signed URL, a local path or bytes.", withParams(v12GetFile)},
		{12, "get_file_fragmented", false, "Download a file in parts: prepare, transfer.", withParams(v12GetFileFragmented)},
		// Messages, users, rooms and members (handlers_group.go), invites and Matrix extras
		// (handlers_matrix.go).
		{12, "delete_message", true, "Redact a message (group_id needed only for messages the gateway never saw).", withParams(v12DeleteMessage)},
		{12, "get_user_info", true, "A Matrix user's profile.", withParams(v12GetUserInfo)},
		{12, "get_friend_list", true, "Users the bot has a direct room with.", noParams(v12GetFriendList)},
		{12, "get_group_info", true, "A room's name and member count.", withParams(v12GetGroupInfo)},
		{12, "get_group_list", true, "The joined rooms that are not direct rooms.", noParams(v12GetGroupList)},
		{12, "get_group_member_info", true, "A joined member, with role from power levels (owner >= 100, admin >= 50).", withParams(v12GetGroupMemberInfo)},
		{12, "get_group_member_list", true, "The joined members of a room, with roles.", withParams(v12GetGroupMemberList)},
		{12, "set_group_name", true, "Set m.room.name.", withParams(v12SetGroupName)},
		{12, "leave_group", true, "Leave a room.", withParams(v12LeaveGroup)},
		{12, "matrix.kick", true, "Kick a user from a room.", withParams(v12Kick)},
		{12, "matrix.ban", true, "Ban a user from a room (until unbanned).", withParams(v12Ban)},
		{12, "matrix.unban", true, "Lift a ban.", withParams(v12Unban)},
		{12, "matrix.mute", true, "Mute a user for duration seconds (default 1800, at most 30 days) by power level; duration 0 lifts it.", withParams(v12Mute)},
		{12, "matrix.accept_invite", true, "Accept a pending invite (request matrix.invite).", withParams(v12AcceptInvite)},
		{12, "matrix.decline_invite", true, "Decline a pending invite.", withParams(v12DeclineInvite)},
		{12, "matrix.react", true, "React to a message with an emoji or text (m.reaction).", withParams(v12React)},
		{12, "matrix.set_typing", true, "Show or stop the bot's typing notification in a room.", withParams(v12SetTyping)},
		{12, "matrix.mark_read", true, "Send a read receipt and move the fully-read marker.", withParams(v12MarkRead)},
		{12, "matrix.join_room", true, "Join a room by ID or alias.", withParams(v12JoinRoom)},
		{12, "matrix.invite", true, "Invite a user to a room.", withParams(v12Invite)},
		{12, "matrix.create_room", true, "Create a room (optionally a direct room, recorded in m.direct).", withParams(v12CreateRoom)},
		{12, "matrix.get_room_state", true, "A room's whole state, or one state event's content.", withParams(v12GetRoomState)},
		{12, "matrix.send_state_event", true, "Send a state event.", withParams(v12SendStateEvent)},
		{12, "matrix.raw_request", true, "Any Client-Server API call under /_matrix/client/ as the bot.", withParams(v12RawRequest)},
		{11, "delete_msg", true, "Redact a message.", withParams(v11DeleteMsg)},
		{11, "get_stranger_info", true, "A Matrix user's profile.", withParams(v11GetStrangerInfo)},
		{11, "get_friend_list", true, "Users the bot has a direct room with.", noParams(v11GetFriendList)},
		{11, "get_group_info", true, "A room's name and member count.", withParams(v11GetGroupInfo)},
		{11, "get_group_list", true, "The joined rooms that are not direct rooms.", noParams(v11GetGroupList)},
		{11, "get_group_member_info", true, "A joined member, with role from power levels.", withParams(v11GetGroupMemberInfo)},
		{11, "get_group_member_list", true, "The joined members of a room, with roles.", withParams(v11GetGroupMemberList)},
		{11, "set_group_name", true, "Set m.room.name.", withParams(v11SetGroupName)},
		{11, "set_group_leave", true, "Leave a room (is_dismiss is ignored).", withParams(v11SetGroupLeave)},
		{11, "set_group_kick", true, "Kick a user; reject_add_request bans instead.", withParams(v11SetGroupKick)},
		{11, "set_group_ban", true, "Mute a user for duration seconds (default 1800, at most 30 days): their power level goes below what sending messages requires and back when it ends (kept across restarts); duration 0 lifts it. Never bans.", withParams(v11SetGroupBan)},
		{11, "set_group_admin", true, "Give a member power level 50 (admin); enable false takes their own level away (the room's default).", withParams(v11SetGroupAdmin)},
		{11, "set_group_whole_ban", true, "Mute the whole room: its default send level (events_default) goes to 50, admins still speak; enable false puts the level back.", withParams(v11SetGroupWholeBan)},
		{11, "set_group_card", true, "The bot's own display name in the room (\"\" = its global one); Matrix lets nobody set another user's name.", withParams(v11SetGroupCard)},
		{11, "get_group_honor_info", true, "Empty lists: Matrix rooms have no honors.", withParams(v11GetGroupHonorInfo)},
		{11, "can_send_image", false, "yes when the gateway takes in files (media is on).", noParams(v11CanSend)},
		{11, "can_send_record", false, "yes when the gateway takes in files (media is on).", noParams(v11CanSend)},
		{11, ".handle_quick_operation", true, "Run a quick operation (reply, delete, kick, ban, approve) on an event, as an HTTP POST reply would.", withParams(v11HandleQuickOperation)},
		// The Matrix extras in v11 form (handlers_v11_matrix.go): v11 numbers in and out.
		{11, "matrix.kick", true, "Kick a user from a room.", withParams(v11MemberAction(memberKick))},
		{11, "matrix.ban", true, "Ban a user from a room (until unbanned).", withParams(v11MemberAction(memberBan))},
		{11, "matrix.unban", true, "Lift a ban.", withParams(v11MemberAction(memberUnban))},
		{11, "matrix.invite", true, "Invite a user to a room.", withParams(v11MemberAction(memberInvite))},
		{11, "matrix.react", true, "React to a message with an emoji or text (m.reaction).", withParams(v11React)},
		{11, "matrix.set_typing", true, "Show or stop the bot's typing notification in a room.", withParams(v11SetTyping)},
		{11, "matrix.mark_read", true, "Send a read receipt and move the fully-read marker.", withParams(v11MarkRead)},
		{11, "matrix.join_room", true, "Join a room by ID or alias; answers its group_id.", withParams(v11JoinRoom)},
		{11, "matrix.create_room", true, "Create a room (invite: v11 user numbers); answers its group_id.", withParams(v11CreateRoom)},
		{11, "matrix.get_room_state", true, "A room's whole state, or one state event's content.", withParams(v11GetRoomState)},
		{11, "matrix.send_state_event", true, "Send a state event.", withParams(v11SendStateEvent)},
		{11, "matrix.raw_request", true, "Any Client-Server API call under /_matrix/client/ as the bot.", withParams(v12RawRequest)},
		{11, "set_group_add_request", true, "Accept (approve) or decline a room invite; flag from request.group.", withParams(v11SetGroupAddRequest)},
		{11, "set_friend_add_request", true, "Accept or decline a direct-room invite; flag from request.friend.", withParams(v11SetFriendAddRequest)},
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

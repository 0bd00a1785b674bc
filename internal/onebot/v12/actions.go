package v12

import "github.com/matrix-onebot/gateway/internal/onebot"

// Actions are the v12 face's rows of the action table.
func Actions() []onebot.Action {
	return []onebot.Action{
		{Version: 12, Name: "send_message", NeedsBot: true, Summary: "Send a message to a room (detail_type group) or to a user's direct room (private).", Handle: onebot.WithParams(sendMessageAction)},
		{Version: 12, Name: "get_self_info", NeedsBot: true, Summary: "The bot's Matrix user ID and display name.", Handle: onebot.NoParams(getSelfInfo)},
		{Version: 12, Name: "get_status", Summary: "Whether every bot is online and syncing.", Handle: onebot.NoParams(getStatus)},
		{Version: 12, Name: "get_version", Summary: "Implementation name and version.", Handle: onebot.NoParams(getVersion)},
		{Version: 12, Name: "get_supported_actions", Summary: "Every v12 action this gateway serves.", Handle: onebot.NoParams(getSupportedActions)},
		{Version: 12, Name: "get_latest_events", Summary: "HTTP only: events since the last call (limit, timeout in seconds to wait for one).", Handle: onebot.DecodesOwn[getLatestEventsParams](getLatestEvents)},
		{Version: 12, Name: "matrix.get_message", NeedsBot: true, Summary: "A message the gateway has seen or sent, as its message event, from the message index.", Handle: onebot.WithParams(getMessageAction)},
		{Version: 12, Name: "delete_message", NeedsBot: true, Summary: "Redact a message (group_id needed only for messages the gateway never saw).", Handle: onebot.WithParams(deleteMessage)},
		{Version: 12, Name: "get_user_info", NeedsBot: true, Summary: "A Matrix user's profile.", Handle: onebot.WithParams(getUserInfo)},
		{Version: 12, Name: "get_friend_list", NeedsBot: true, Summary: "Users the bot has a direct room with.", Handle: onebot.NoParams(getFriendList)},
		{Version: 12, Name: "get_group_info", NeedsBot: true, Summary: "A room's name and member count.", Handle: onebot.WithParams(getGroupInfo)},
		{Version: 12, Name: "get_group_list", NeedsBot: true, Summary: "The joined rooms that are not direct rooms.", Handle: onebot.NoParams(getGroupList)},
		{Version: 12, Name: "get_group_member_info", NeedsBot: true, Summary: "A joined member, with role from power levels (owner >= 100, admin >= 50).", Handle: onebot.WithParams(getGroupMemberInfo)},
		{Version: 12, Name: "get_group_member_list", NeedsBot: true, Summary: "The joined members of a room, with roles.", Handle: onebot.WithParams(getGroupMemberList)},
		{Version: 12, Name: "set_group_name", NeedsBot: true, Summary: "Set m.room.name.", Handle: onebot.WithParams(setGroupName)},
		{Version: 12, Name: "leave_group", NeedsBot: true, Summary: "Leave a room.", Handle: onebot.WithParams(leaveGroup)},
		{Version: 12, Name: "matrix.kick", NeedsBot: true, Summary: "Kick a user from a room.", Handle: onebot.WithParams(kick)},
		{Version: 12, Name: "matrix.ban", NeedsBot: true, Summary: "Ban a user from a room (until unbanned).", Handle: onebot.WithParams(ban)},
		{Version: 12, Name: "matrix.unban", NeedsBot: true, Summary: "Lift a ban.", Handle: onebot.WithParams(unban)},
		{Version: 12, Name: "matrix.mute", NeedsBot: true, Summary: "Mute a user for duration seconds (default 1800, at most 30 days) by power level; duration 0 lifts it.", Handle: onebot.WithParams(mute)},
		{Version: 12, Name: "matrix.accept_invite", NeedsBot: true, Summary: "Accept a pending invite (request matrix.invite).", Handle: onebot.WithParams(acceptInvite)},
		{Version: 12, Name: "matrix.decline_invite", NeedsBot: true, Summary: "Decline a pending invite.", Handle: onebot.WithParams(declineInvite)},
		{Version: 12, Name: "matrix.react", NeedsBot: true, Summary: "React to a message with an emoji or text (m.reaction).", Handle: onebot.WithParams(onebot.React)},
		{Version: 12, Name: "matrix.set_typing", NeedsBot: true, Summary: "Show or stop the bot's typing notification in a room.", Handle: onebot.WithParams(onebot.SetTyping)},
		{Version: 12, Name: "matrix.mark_read", NeedsBot: true, Summary: "Send a read receipt and move the fully-read marker.", Handle: onebot.WithParams(onebot.MarkRead)},
		{Version: 12, Name: "matrix.join_room", NeedsBot: true, Summary: "Join a room by ID or alias.", Handle: onebot.WithParams(onebot.JoinRoom)},
		{Version: 12, Name: "matrix.invite", NeedsBot: true, Summary: "Invite a user to a room.", Handle: onebot.WithParams(invite)},
		{Version: 12, Name: "matrix.create_room", NeedsBot: true, Summary: "Create a room (optionally a direct room, recorded in m.direct).", Handle: onebot.WithParams(onebot.CreateRoom)},
		{Version: 12, Name: "matrix.get_room_state", NeedsBot: true, Summary: "A room's whole state, or one state event's content.", Handle: onebot.WithParams(onebot.GetRoomState)},
		{Version: 12, Name: "matrix.send_state_event", NeedsBot: true, Summary: "Send a state event.", Handle: onebot.WithParams(onebot.SendStateEvent)},
		{Version: 12, Name: "matrix.raw_request", NeedsBot: true, Summary: "Any Client-Server API call under /_matrix/client/ as the bot.", Handle: onebot.WithParams(onebot.RawRequest)},
		{Version: 12, Name: "upload_file", Summary: "Store a file (from a URL, a path in GATEWAY_MEDIA_LOCAL_DIR, or bytes) for media segments.", Handle: onebot.WithParams(uploadFile)},
		{Version: 12, Name: "upload_file_fragmented", Summary: "Upload a file in parts: prepare, transfer, finish.", Handle: onebot.WithParams(uploadFileFragmented)},
		{Version: 12, Name: "get_file", Summary: "A file as a signed URL, a local path or bytes.", Handle: onebot.WithParams(getFile)},
		{Version: 12, Name: "get_file_fragmented", Summary: "Download a file in parts: prepare, transfer.", Handle: onebot.WithParams(getFileFragmented)},
	}
}

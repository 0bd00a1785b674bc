package v11

import "github.com/matrix-onebot/gateway/internal/onebot"

// Actions are the v11 face's rows of the action table.
func Actions() []onebot.Action {
	return []onebot.Action{
		{Version: 11, Name: "send_msg", NeedsBot: true, Summary: "Send a group (room) or private (direct room) message.", Handle: onebot.WithParams(sendMsg)},
		{Version: 11, Name: "send_group_msg", NeedsBot: true, Summary: "Send a message to a room.", Handle: onebot.WithParams(sendGroupMsg)},
		{Version: 11, Name: "send_private_msg", NeedsBot: true, Summary: "Send a message to a user's direct room.", Handle: onebot.WithParams(sendPrivateMsg)},
		{Version: 11, Name: "get_login_info", NeedsBot: true, Summary: "The bot's self_id and nickname.", Handle: onebot.NoParams(getLoginInfo)},
		{Version: 11, Name: "get_status", NeedsBot: true, Summary: "Whether the bot is online and syncing.", Handle: onebot.NoParams(getStatus)},
		{Version: 11, Name: "get_version_info", Summary: "Implementation name and version.", Handle: onebot.NoParams(getVersionInfo)},
		{Version: 11, Name: "get_msg", NeedsBot: true, Summary: "A message the gateway has seen or sent, from its message index (also after a restart).", Handle: onebot.WithParams(getMsg)},
		{Version: 11, Name: "delete_msg", NeedsBot: true, Summary: "Redact a message.", Handle: onebot.WithParams(deleteMsg)},
		{Version: 11, Name: "get_stranger_info", NeedsBot: true, Summary: "A Matrix user's profile.", Handle: onebot.WithParams(getStrangerInfo)},
		{Version: 11, Name: "get_friend_list", NeedsBot: true, Summary: "Users the bot has a direct room with.", Handle: onebot.NoParams(getFriendList)},
		{Version: 11, Name: "get_group_info", NeedsBot: true, Summary: "A room's name and member count.", Handle: onebot.WithParams(getGroupInfo)},
		{Version: 11, Name: "get_group_list", NeedsBot: true, Summary: "The joined rooms that are not direct rooms.", Handle: onebot.NoParams(getGroupList)},
		{Version: 11, Name: "get_group_member_info", NeedsBot: true, Summary: "A joined member, with role from power levels.", Handle: onebot.WithParams(getGroupMemberInfo)},
		{Version: 11, Name: "get_group_member_list", NeedsBot: true, Summary: "The joined members of a room, with roles.", Handle: onebot.WithParams(getGroupMemberList)},
		{Version: 11, Name: "set_group_name", NeedsBot: true, Summary: "Set m.room.name.", Handle: onebot.WithParams(setGroupName)},
		{Version: 11, Name: "set_group_leave", NeedsBot: true, Summary: "Leave a room (is_dismiss is ignored).", Handle: onebot.WithParams(setGroupLeave)},
		{Version: 11, Name: "set_group_kick", NeedsBot: true, Summary: "Kick a user; reject_add_request bans instead.", Handle: onebot.WithParams(setGroupKick)},
		{Version: 11, Name: "set_group_ban", NeedsBot: true, Summary: "Mute a user for duration seconds (default 1800, at most 30 days): their power level goes below what sending messages requires and back when it ends (kept across restarts); duration 0 lifts it. Never bans.", Handle: onebot.WithParams(setGroupBan)},
		{Version: 11, Name: "set_group_admin", NeedsBot: true, Summary: "Give a member power level 50 (admin); enable false takes their own level away (the room's default).", Handle: onebot.WithParams(setGroupAdmin)},
		{Version: 11, Name: "set_group_whole_ban", NeedsBot: true, Summary: "Mute the whole room: its default send level (events_default) goes to 50, admins still speak; enable false puts the level back.", Handle: onebot.WithParams(setGroupWholeBan)},
		{Version: 11, Name: "set_group_card", NeedsBot: true, Summary: "The bot's own display name in the room (\"\" = its global one); Matrix lets nobody set another user's name.", Handle: onebot.WithParams(setGroupCard)},
		{Version: 11, Name: "get_group_honor_info", NeedsBot: true, Summary: "Empty lists: Matrix rooms have no honors.", Handle: onebot.WithParams(getGroupHonorInfo)},
		{Version: 11, Name: "can_send_image", Summary: "yes when the gateway takes in files (media is on).", Handle: onebot.NoParams(canSend)},
		{Version: 11, Name: "can_send_record", Summary: "yes when the gateway takes in files (media is on).", Handle: onebot.NoParams(canSend)},
		{Version: 11, Name: ".handle_quick_operation", NeedsBot: true, Summary: "Run a quick operation (reply, delete, kick, ban, approve) on an event, as an HTTP POST reply would.", Handle: onebot.WithParams(handleQuickOperation)},
		{Version: 11, Name: "matrix.kick", NeedsBot: true, Summary: "Kick a user from a room.", Handle: onebot.WithParams(memberAction(onebot.Kick))},
		{Version: 11, Name: "matrix.ban", NeedsBot: true, Summary: "Ban a user from a room (until unbanned).", Handle: onebot.WithParams(memberAction(onebot.Ban))},
		{Version: 11, Name: "matrix.unban", NeedsBot: true, Summary: "Lift a ban.", Handle: onebot.WithParams(memberAction(onebot.Unban))},
		{Version: 11, Name: "matrix.invite", NeedsBot: true, Summary: "Invite a user to a room.", Handle: onebot.WithParams(memberAction(onebot.Invite))},
		{Version: 11, Name: "matrix.react", NeedsBot: true, Summary: "React to a message with an emoji or text (m.reaction).", Handle: onebot.WithParams(react)},
		{Version: 11, Name: "matrix.set_typing", NeedsBot: true, Summary: "Show or stop the bot's typing notification in a room.", Handle: onebot.WithParams(setTyping)},
		{Version: 11, Name: "matrix.mark_read", NeedsBot: true, Summary: "Send a read receipt and move the fully-read marker.", Handle: onebot.WithParams(markRead)},
		{Version: 11, Name: "matrix.join_room", NeedsBot: true, Summary: "Join a room by ID or alias; answers its group_id.", Handle: onebot.WithParams(joinRoom)},
		{Version: 11, Name: "matrix.create_room", NeedsBot: true, Summary: "Create a room (invite: v11 user numbers); answers its group_id.", Handle: onebot.WithParams(createRoom)},
		{Version: 11, Name: "matrix.get_room_state", NeedsBot: true, Summary: "A room's whole state, or one state event's content.", Handle: onebot.WithParams(getRoomState)},
		{Version: 11, Name: "matrix.send_state_event", NeedsBot: true, Summary: "Send a state event.", Handle: onebot.WithParams(sendStateEvent)},
		{Version: 11, Name: "matrix.raw_request", NeedsBot: true, Summary: "Any Client-Server API call under /_matrix/client/ as the bot.", Handle: onebot.WithParams(onebot.RawRequest)},
		{Version: 11, Name: "set_group_add_request", NeedsBot: true, Summary: "Accept (approve) or decline a room invite; flag from request.group.", Handle: onebot.WithParams(setGroupAddRequest)},
		{Version: 11, Name: "set_friend_add_request", NeedsBot: true, Summary: "Accept or decline a direct-room invite; flag from request.friend.", Handle: onebot.WithParams(setFriendAddRequest)},
	}
}

package e2e

import (
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Real NoneBot2 sees the sender's role in every message event, from the room's power levels:
// the room's creator is owner (v11 GROUP_OWNER matches), a power-level-50 user admin (GROUP_ADMIN
// matches), anyone else member, and a change of the power levels applies to the next message
// (issue 9 item 1: sender.role used to be member for everyone).
func TestNoneBotSenderRoleV11(t *testing.T) { testNoneBotSenderRole(t, 11) }

func TestNoneBotSenderRoleV12(t *testing.T) { testNoneBotSenderRole(t, 12) }

func testNoneBotSenderRole(t *testing.T, version int) {
	_, bot, alice, room := noneBotRoom(t, version)
	bob := newHuman(t, "bob")
	if _, err := alice.cli.InviteUser(testCtx(t), room, &mautrix.ReqInviteUser{UserID: id.UserID(bob.user.UserID)}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.cli.JoinRoomByID(testCtx(t), room); err != nil {
		t.Fatal(err)
	}
	answer := func(from *human, cmd, want string) {
		t.Helper()
		from.send(room, cmd)
		alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == want })
	}

	answer(alice, "/role", "role owner")
	answer(bob, "/role", "role member")

	var pl event.PowerLevelsEventContent
	if err := alice.cli.StateEvent(testCtx(t), room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	pl.SetUserLevel(id.UserID(bob.user.UserID), 50)
	if _, err := alice.cli.SendStateEvent(testCtx(t), room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	answer(bob, "/role", "role admin")

	if version == 11 { // NoneBot's permissions read sender.role
		answer(alice, "/owner", "owner ok")
		answer(bob, "/admin", "admin ok")
	}
}

// Real NoneBot2 and the mentions Matrix clients write (issue 9 item 5): Element's leading pill
// "Bot: /echo hi" is the command /echo addressed to the bot, a mention of the bot only in
// m.mentions (no pill in the text) is to_me, and so is a plain-text client's "bot: /echo plain".
func TestNoneBotMentionsV11(t *testing.T) { testNoneBotMentions(t, 11) }

func TestNoneBotMentionsV12(t *testing.T) { testNoneBotMentions(t, 12) }

func testNoneBotMentions(t *testing.T, version int) {
	_, bot, alice, room := noneBotRoom(t, version)
	botID := id.UserID(bot.UserID)

	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "bot: /echo hi", Format: event.FormatHTML,
		FormattedBody: `<a href="https://matrix.to/#/` + bot.UserID + `">bot</a>: /echo hi`,
		Mentions:      &event.Mentions{UserIDs: []id.UserID{botID}},
	})
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "hi" })

	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: "are you there?", Mentions: &event.Mentions{UserIDs: []id.UserID{botID}},
	})
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "to_me ok" })

	// A plain-text client writes the bot's name (here its localpart, also its display name on
	// Synapse) where Element puts the pill.
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgText, Body: botID.Localpart() + ": /echo plain", Mentions: &event.Mentions{UserIDs: []id.UserID{botID}},
	})
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "plain" })
}

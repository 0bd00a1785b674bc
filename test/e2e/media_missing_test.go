package e2e

import (
	"net/http"
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// A media link for an mxc the homeserver does not have is 404 (no such file), not 502 (the
// homeserver cannot provide it now); get_file answers 35001 (not found) for it.
func TestMediaLinkForMissingMXCIsNotFound(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, "e2e-token")
	missing := id.ContentURI{Homeserver: id.UserID(bot.UserID).Homeserver(), FileID: "NoSuchMediaOnThisServer"}
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "gone.png", URL: missing.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: 10},
	})
	m := ob.nextMessage()
	data := segData(m, "image")
	link, _ := data["matrix.url"].(string)
	fileID, _ := data["file_id"].(string)
	if link == "" || fileID == "" {
		t.Fatalf("image arrived as %v", m)
	}
	if status, body := getURL(t, link); status != http.StatusNotFound {
		t.Fatalf("GET link to a missing mxc: %d %s, want 404", status, body)
	}
	resp := g.actionV12("e2e-token", "get_file", map[string]any{"file_id": fileID, "type": "data"})
	if resp["retcode"] != float64(35001) {
		t.Fatalf("get_file of a missing mxc: %v, want retcode 35001", resp)
	}
}

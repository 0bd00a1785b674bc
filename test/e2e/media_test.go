package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"maunium.net/go/mautrix/event"
)

func getURL(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// An image from a Matrix user reaches a v12 client with a file id and a signed link: the link
// streams the bytes without any token, a forged one is 403, and once it expires it is 410.
// get_file gives a fresh link for the same file id.
func TestIncomingImageLink(t *testing.T) {
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	g := startGateway(t, t.TempDir(), map[string]string{
		"MATRIX_BOTS":           botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN":  "e2e-token",
		"GATEWAY_MEDIA_URL_TTL": "3s",
	})
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	ob := dialV12(t, g, "e2e-token")
	up, err := alice.cli.UploadBytesWithName(testCtx(t), testPNG, "image/png", "dot.png")
	if err != nil {
		t.Fatal(err)
	}
	alice.sendContent(room, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgImage, Body: "dot.png", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "image/png", Size: len(testPNG)},
	})
	m := ob.nextMessage()
	segs, _ := m["message"].([]any)
	if len(segs) != 1 {
		t.Fatalf("image arrived as %v", m)
	}
	seg := segs[0].(map[string]any)
	data := seg["data"].(map[string]any)
	link, _ := data["matrix.url"].(string)
	fileID, _ := data["file_id"].(string)
	if seg["type"] != "image" || fileID == "" || !strings.HasPrefix(link, g.url+"/media/") || m["alt_message"] != "[image]" {
		t.Fatalf("image segment = %v (alt %v)", seg, m["alt_message"])
	}
	if status, body := getURL(t, link); status != http.StatusOK || !bytes.Equal(body, testPNG) {
		t.Fatalf("GET link: %d, %d bytes", status, len(body))
	}
	u, _ := url.Parse(link)
	q := u.Query()
	q.Set("exp", fmt.Sprint(9999999999))
	if status, _ := getURL(t, g.url+u.Path+"?"+q.Encode()); status != http.StatusForbidden {
		t.Fatalf("link with a pushed-back expiry: %d, want 403", status)
	}
	waitFor(t, "the 3 s link to expire (410)", func() bool {
		status, _ := getURL(t, link)
		return status == http.StatusGone
	})
	fresh := g.ok("get_file", map[string]any{"file_id": fileID, "type": "url"}).(map[string]any)
	if status, body := getURL(t, fresh["url"].(string)); status != http.StatusOK || !bytes.Equal(body, testPNG) {
		t.Fatalf("fresh link from get_file: %d, %d bytes", status, len(body))
	}
}

// get_msg reads the message index: it works after a restart, and fails at once with a clear
// error once the message is redacted (v11 failed, v12 35002).
func TestGetMsgAfterRestartAndRedaction(t *testing.T) {
	dir := t.TempDir()
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	env := map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": authToken,
	}
	g := startGateway(t, dir, env)
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	v11 := dialV11(t, g)
	evt := alice.send(room, "keep me")
	f := v11.waitFrame("the message", func(f map[string]any) bool { return f["matrix_event_id"] == string(evt) })
	msgID := int64(f["message_id"].(float64))
	g.stop()

	g = startGateway(t, dir, env)
	getMsg := func() map[string]any {
		resp, err := http.Get(fmt.Sprintf("%s/onebot/v11/get_msg?message_id=%d&access_token=%s", g.url, msgID, authToken))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("get_msg: %s", body)
		}
		return out
	}
	got := getMsg()
	d, _ := got["data"].(map[string]any)
	if got["status"] != "ok" || d["message_id"] != float64(msgID) || d["real_id"] != float64(msgID) || d["raw_message"] != "keep me" ||
		d["message_type"] != "group" || d["time"] == nil || d["sender"] == nil {
		t.Fatalf("get_msg after restart = %v", got)
	}
	v12 := g.actionV12(authToken, "matrix.get_message", map[string]any{"message_id": string(evt)})
	if v12["retcode"] != float64(0) || v12["data"].(map[string]any)["alt_message"] != "keep me" {
		t.Fatalf("matrix.get_message = %v", v12)
	}

	if _, err := alice.cli.RedactEvent(testCtx(t), room, evt); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "get_msg to fail on the redacted message", func() bool { return getMsg()["status"] == "failed" })
	if got := getMsg(); !strings.Contains(fmt.Sprint(got["msg"]), "redacted") {
		t.Fatalf("get_msg on a redacted message = %v", got)
	}
	if v12 := g.actionV12(authToken, "matrix.get_message", map[string]any{"message_id": string(evt)}); v12["retcode"] != float64(35002) {
		t.Fatalf("matrix.get_message on a redacted message = %v", v12)
	}
}

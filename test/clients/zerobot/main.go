// Command zerobot is the ZeroBot v1.8.2 test client of the gateway: it connects to the gateway's
// OneBot v11 forward WebSocket and answers "/echo <text>" with <text> and "/whoami" with what
// the gateway says of the bot under its own self_id. It has its own go.mod,
// so ZeroBot's dependencies stay out of the gateway module; test/harness/zerobot builds it.
//
// Environment: ZEROBOT_URL (ws://HOST/onebot/v11/), ZEROBOT_TOKEN (the gateway's access token).
package main

import (
	"fmt"
	"os"

	zero "github.com/wdvxdr1123/ZeroBot"
	"github.com/wdvxdr1123/ZeroBot/driver"
	"github.com/wdvxdr1123/ZeroBot/message"
)

func main() {
	url, token := os.Getenv("ZEROBOT_URL"), os.Getenv("ZEROBOT_TOKEN")
	if url == "" {
		fmt.Fprintln(os.Stderr, "set ZEROBOT_URL to the gateway's v11 WebSocket URL")
		os.Exit(2)
	}
	zero.OnCommand("echo").Handle(func(ctx *zero.Ctx) {
		text, _ := ctx.State["args"].(string)
		fmt.Printf("harness: echo %q from %d in group %d\n", text, ctx.Event.UserID, ctx.Event.GroupID)
		ctx.Send(message.Text(text))
	})
	// "/whoami": the bot looks itself up under its self_id, as plugins do with
	// GetGroupMemberInfo(group, SelfID), and says what the gateway answered.
	zero.OnCommand("whoami").Handle(func(ctx *zero.Ctx) {
		self, group := ctx.Event.SelfID, ctx.Event.GroupID
		member := ctx.GetGroupMemberInfo(group, self, true)
		stranger := ctx.GetStrangerInfo(self, true)
		inList := false
		for _, m := range ctx.GetGroupMemberList(group).Array() {
			if m.Get("user_id").Int() == self {
				inList = true
			}
		}
		ctx.Send(message.Text(fmt.Sprintf("whoami self=%d member=%d stranger=%d in_list=%v",
			self, member.Get("user_id").Int(), stranger.Get("user_id").Int(), inList)))
	})
	zero.OnMessage().Handle(func(ctx *zero.Ctx) {
		fmt.Printf("harness: message self_id=%d message_id=%v raw=%q\n", ctx.Event.SelfID, ctx.Event.MessageID, ctx.Event.RawMessage)
	})
	zero.RunAndBlock(&zero.Config{
		NickName:      []string{"bot"},
		CommandPrefix: "/",
		Driver:        []zero.Driver{driver.NewWebSocketClient(url, token)},
	}, func() { fmt.Println("harness: running") })
}

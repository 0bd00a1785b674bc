// Command zerobot is the ZeroBot v1.8.2 test client of the gateway: it connects to the gateway's
// OneBot v11 forward WebSocket and answers "/echo <text>" with <text>. It has its own go.mod,
// so ZeroBot's dependencies stay out of the gateway module; test/harness/zerobot.go builds it.
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
	zero.OnMessage().Handle(func(ctx *zero.Ctx) {
		fmt.Printf("harness: message self_id=%d message_id=%v raw=%q\n", ctx.Event.SelfID, ctx.Event.MessageID, ctx.Event.RawMessage)
	})
	zero.RunAndBlock(&zero.Config{
		NickName:      []string{"bot"},
		CommandPrefix: "/",
		Driver:        []zero.Driver{driver.NewWebSocketClient(url, token)},
	}, func() { fmt.Println("harness: running") })
}

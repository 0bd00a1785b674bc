package config

import (
	"strings"
	"testing"
)

// A token variable that is set must be a usable token: empty, blank or padded values are
// problems naming the variable, never a silent "no authentication".
func TestLoadTokensMustBeUsable(t *testing.T) {
	for _, tt := range []struct {
		env, problem string
	}{
		{"GATEWAY_ACCESS_TOKEN=", "GATEWAY_ACCESS_TOKEN: is set but empty"},
		{"GATEWAY_ACCESS_TOKEN=   ", "GATEWAY_ACCESS_TOKEN: is set but empty"},
		{"GATEWAY_ACCESS_TOKEN=\t\n", "GATEWAY_ACCESS_TOKEN: is set but empty"},
		{"GATEWAY_ACCESS_TOKEN= tok", "GATEWAY_ACCESS_TOKEN: has spaces or line breaks around it"},
		{"GATEWAY_ACCESS_TOKEN=tok\n", "GATEWAY_ACCESS_TOKEN: has spaces or line breaks around it"},
		{"GATEWAY_PUSH_ACCESS_TOKEN= ", "GATEWAY_PUSH_ACCESS_TOKEN: is set but empty"},
		{"GATEWAY_REVERSE_WS_ACCESS_TOKEN=", "GATEWAY_REVERSE_WS_ACCESS_TOKEN: is set but empty"},
		{"GATEWAY_WEBHOOK_REPLY_SCOPE=all", `GATEWAY_WEBHOOK_REPLY_SCOPE: invalid value "all"; set event`},
	} {
		t.Run(tt.env, func(t *testing.T) {
			_, err := Load(withBots(tt.env))
			wantProblems(t, err, 1, tt.problem)
		})
	}
	// A blank token on a public address is one problem (the blank value), not two.
	_, err := Load(withBots("GATEWAY_ACCESS_TOKEN= ", "GATEWAY_LISTEN=0.0.0.0:5700"))
	wantProblems(t, err, 1, "GATEWAY_ACCESS_TOKEN: is set but empty")

	_, err = Load(withBots("GATEWAY_PUSH_ACCESS_TOKEN=a", "GATEWAY_REVERSE_WS_ACCESS_TOKEN=b"))
	wantProblems(t, err, 1, "GATEWAY_REVERSE_WS_ACCESS_TOKEN: differs from GATEWAY_PUSH_ACCESS_TOKEN")
	cfg := mustLoad(t, withBots("GATEWAY_PUSH_ACCESS_TOKEN=a", "GATEWAY_REVERSE_WS_ACCESS_TOKEN=a"))
	if cfg.Gateway.PushAccessToken != "a" {
		t.Errorf("PushAccessToken = %q, want a", cfg.Gateway.PushAccessToken)
	}
}

// onebot_access_token grants one bot: it must be a usable token, its own, and not the global one.
func TestLoadBotAccessTokens(t *testing.T) {
	bot := func(tok string) string {
		return `{"homeserver": "https://m.example", "access_token": "x", "onebot_access_token": ` + tok + `}`
	}
	cfg := mustLoad(t, []string{"MATRIX_BOTS=[" + bot(`"tok-a"`) + "," + bot(`"tok-b"`) + `,{"homeserver": "https://m.example", "access_token": "x"}]`,
		"GATEWAY_ACCESS_TOKEN=global"})
	if a, b, c := cfg.Bots[0].OneBotAccessToken, cfg.Bots[1].OneBotAccessToken, cfg.Bots[2].OneBotAccessToken; a != "tok-a" || b != "tok-b" || c != "" {
		t.Errorf("onebot_access_token = %q %q %q, want tok-a tok-b and none", a, b, c)
	}
	cfgPush := mustLoad(t, []string{"MATRIX_BOTS=[" + bot(`"tok-a", "onebot_push_access_token": "push-a"`) + "," + bot(`"tok-b"`) + "]",
		"GATEWAY_PUSH_ACCESS_TOKEN=push-all"})
	if a, b := cfgPush.Bots[0].PushToken(cfgPush.Gateway.PushAccessToken), cfgPush.Bots[1].PushToken(cfgPush.Gateway.PushAccessToken); a != "push-a" || b != "push-all" {
		t.Errorf("push tokens %q %q, want push-a and push-all", a, b)
	}
	if s := cfg.String() + cfg.Bots[0].String(); strings.Contains(s, "tok-a") {
		t.Errorf("a bot's OneBot token is printed: %s", s)
	}

	for _, tt := range []struct {
		bots, problem string
	}{
		{bot(`""`), "MATRIX_BOTS[0].onebot_access_token: is empty"},
		{bot(`"  "`), "MATRIX_BOTS[0].onebot_access_token: is empty"},
		{bot(`" a"`), "MATRIX_BOTS[0].onebot_access_token: has spaces"},
		{bot(`"global"`), "MATRIX_BOTS[0].onebot_access_token: equals GATEWAY_ACCESS_TOKEN"},
		{bot(`"same"`) + "," + bot(`"same"`), "MATRIX_BOTS[1].onebot_access_token: is also the onebot_access_token of MATRIX_BOTS[0]"},
		{bot(`42`), "MATRIX_BOTS[0].onebot_access_token"},
		{bot(`"tok-a", "onebot_push_access_token": ""`), "MATRIX_BOTS[0].onebot_push_access_token: is empty"},
		{bot(`"tok-a", "onebot_push_access_token": "p "`), "MATRIX_BOTS[0].onebot_push_access_token: has spaces"},
	} {
		t.Run(tt.bots, func(t *testing.T) {
			_, err := Load([]string{"MATRIX_BOTS=[" + tt.bots + "]", "GATEWAY_ACCESS_TOKEN=global"})
			wantProblems(t, err, 1, tt.problem)
		})
	}
}

// A push token is handed to the endpoints the gateway pushes to: one that is also an API token
// granting more than the endpoint's own bot would let that endpoint act as other bots.
func TestLoadPushTokenIsNoOtherBotsAPIToken(t *testing.T) {
	bot := func(extra string) string {
		return `{"homeserver": "https://m.example", "access_token": "x"` + extra + `}`
	}
	for _, tt := range []struct {
		name    string
		env     []string
		problem string
	}{
		{"a bot's push token is another bot's API token",
			[]string{"MATRIX_BOTS=[" + bot(`, "onebot_access_token": "tok-a"`) + "," + bot(`, "onebot_access_token": "tok-b", "onebot_push_access_token": "tok-a"`) + "]"},
			"MATRIX_BOTS[1].onebot_push_access_token: is the onebot_access_token of MATRIX_BOTS[0]"},
		{"a bot's push token is the global API token",
			[]string{"MATRIX_BOTS=[" + bot(`, "onebot_push_access_token": "global"`) + "," + bot("") + "]", "GATEWAY_ACCESS_TOKEN=global"},
			"MATRIX_BOTS[0].onebot_push_access_token: equals GATEWAY_ACCESS_TOKEN"},
		{"the global push token is a bot's API token",
			[]string{"MATRIX_BOTS=[" + bot(`, "onebot_access_token": "tok-a"`) + "," + bot("") + "]", "GATEWAY_PUSH_ACCESS_TOKEN=tok-a"},
			"GATEWAY_PUSH_ACCESS_TOKEN: is the onebot_access_token of MATRIX_BOTS[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.env)
			wantProblems(t, err, 1, tt.problem)
		})
	}
	// What grants no more than the endpoint's own bot stays allowed: one client per bot using
	// one token both ways, a single bot, or one client for every bot holding the global token.
	for _, env := range [][]string{
		{"MATRIX_BOTS=[" + bot(`, "onebot_access_token": "tok-a", "onebot_push_access_token": "tok-a"`) + "," + bot(`, "onebot_access_token": "tok-b"`) + "]"},
		{"MATRIX_BOTS=[" + bot(`, "onebot_access_token": "tok-a"`) + "]", "GATEWAY_PUSH_ACCESS_TOKEN=tok-a"},
		{"MATRIX_BOTS=[" + bot("") + "]", "GATEWAY_ACCESS_TOKEN=global", "GATEWAY_PUSH_ACCESS_TOKEN=global"},
		{"MATRIX_BOTS=[" + bot("") + "," + bot("") + "]", "GATEWAY_ACCESS_TOKEN=global", "GATEWAY_PUSH_ACCESS_TOKEN=global"},
	} {
		mustLoad(t, env)
	}
}

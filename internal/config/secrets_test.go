package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsNeverPrinted prints and logs bots and the config every way a
// caller might, and checks that no secret comes out.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{"SECRET-access", "SECRET-refresh", "SECRET-password", "SECRET-recovery",
		"SECRET-passphrase", "SECRET-gateway", "SECRET-reverse", "SECRET-proxy", "SECRET-global-recovery", "SECRET-query",
		"SECRET-bot-onebot", "SECRET-webhook", "SECRET-bot-push"}
	cfg := mustLoad(t, []string{
		`MATRIX_BOTS=[
			{"homeserver": "https://matrix.example.org", "access_token": "SECRET-access", "refresh_token": "SECRET-refresh",
			 "user_id": "@bot:example.org", "login_user": "@bot:example.org", "login_password": "SECRET-password",
			 "recovery_key": "SECRET-recovery", "secret_storage_passphrase": "SECRET-passphrase", "onebot_self_id": 10001,
			 "onebot_v11_reverse_ws": ["ws://nb.example/ws?access_token=SECRET-query"], "onebot_access_token": "SECRET-bot-onebot", "onebot_push_access_token": "SECRET-bot-push"},
			{"homeserver": "https://matrix.example.org", "oauth_enabled": true}
		]`,
		"MATRIX_RECOVERY_CODE=SECRET-global-recovery",
		"MATRIX_PROXY=http://user:SECRET-proxy@127.0.0.1:7890",
		"GATEWAY_ACCESS_TOKEN=SECRET-gateway",
		"GATEWAY_PUSH_ACCESS_TOKEN=SECRET-reverse",
		"GATEWAY_WEBHOOK_SECRET=SECRET-webhook",
		"GATEWAY_V11_REVERSE_WS=ws://nb.example/ws?access_token=SECRET-query",
	})
	b := cfg.Bots[0]
	if b.AccessToken != "SECRET-access" || b.RecoveryKey() != "SECRET-recovery" || cfg.Bots[1].RecoveryKey() != "SECRET-global-recovery" ||
		b.OneBotAccessToken != "SECRET-bot-onebot" || b.OneBotPushToken != "SECRET-bot-push" || cfg.Gateway.PushAccessToken != "SECRET-reverse" || cfg.Gateway.WebhookSecret != "SECRET-webhook" {
		t.Fatal("secrets not loaded")
	}

	var outputs []string
	for _, v := range []any{b, &b, cfg.Bots, cfg, *cfg, cfg.Gateway} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		outputs = append(outputs, fmt.Sprint(v), fmt.Sprintln(v))
	}
	outputs = append(outputs, b.String(), cfg.String(), cfg.Gateway.String())
	for _, v := range []any{b, cfg.Bots, cfg, cfg.Gateway} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		if !json.Valid(j) {
			t.Fatalf("json.Marshal(%T) = invalid %s", v, j)
		}
		outputs = append(outputs, string(j))
	}
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(w *bytes.Buffer) slog.Handler { return slog.NewTextHandler(w, nil) },
		func(w *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(w, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("bot", "bot", b, "ptr", &b, "cfg", cfg, "gateway", cfg.Gateway)
		log.Info("bots", slog.Any("bots", cfg.Bots))
		outputs = append(outputs, buf.String())
	}

	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output leaks %s:\n%s", s, out)
			}
		}
	}
	for _, want := range []string{"@bot:example.org", "https://matrix.example.org", "onebot_self_id=10001", "credentials=access_token+password"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("String() = %q, want it to mention %q", b.String(), want)
		}
	}
	if got := cfg.Bots[1].String(); !strings.Contains(got, "bot #1") || !strings.Contains(got, "credentials=oauth") {
		t.Errorf("String() = %q", got)
	}
}

// TestProblemsDoNotEchoSecrets checks that problem messages do not repeat
// secret values given in the wrong place.
func TestProblemsDoNotEchoSecrets(t *testing.T) {
	_, err := Load([]string{
		`MATRIX_BOTS=[{"homeserver": "https://m.example", "access_token": "SECRET-a", "login_password": "SECRET-b",
			"recovery_code": "SECRET-c", "recovery_key": "SECRET-d"}]`,
		"MATRIX_PROXY=ftp://u:SECRET-e@proxy",
		"MATRIX_BOTS_FILE=",
	})
	if err == nil {
		t.Fatal("want problems")
	}
	for _, s := range []string{"SECRET-a", "SECRET-b", "SECRET-c", "SECRET-d", "SECRET-e"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks %s: %v", s, err)
		}
	}
}

package config

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

const minimalBots = `MATRIX_BOTS=[{"homeserver": "https://matrix.example.org", "access_token": "tok"}]`

// withBots returns an environment holding a minimal valid MATRIX_BOTS plus
// extra entries (a later entry overrides an earlier one).
func withBots(extra ...string) []string {
	return append([]string{minimalBots}, extra...)
}

// mustLoad loads environ and fails the test on any problem.
func mustLoad(t *testing.T, environ []string) *Config {
	t.Helper()
	cfg, err := Load(environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// wantProblems checks that err is a *Error with exactly count problems and
// that each substring in want occurs in some problem.
func wantProblems(t *testing.T, err error, count int, want ...string) {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load error = %v (%T), want *config.Error", err, err)
	}
	msg := cerr.Error()
	for _, w := range want {
		found := false
		for _, p := range cerr.Problems {
			if strings.Contains(p.Error(), w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem contains %q; got:\n%s", w, msg)
		}
	}
	if len(cerr.Problems) != count {
		t.Errorf("got %d problems, want %d:\n%s", len(cerr.Problems), count, msg)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg := mustLoad(t, withBots())

	checks := []struct {
		name      string
		got, want any
	}{
		{"APITimeout", cfg.APITimeout, 30 * time.Second},
		{"SyncTimeout", cfg.SyncTimeout, 30 * time.Second},
		{"RetryInterval", cfg.RetryInterval, 3 * time.Second},
		{"HandleSelfMessage", cfg.HandleSelfMessage, false},
		{"HandleOldEvents", cfg.HandleOldEvents, false},
		{"Proxy is nil", cfg.Proxy == nil, true},
		{"TokenStorePath", cfg.TokenStorePath, ""},
		{"RecoveryCode", cfg.RecoveryCode, ""},
		{"Listen", cfg.Gateway.Listen, "127.0.0.1:5700"},
		{"Database", cfg.Gateway.Database, "./data/gateway.db"},
		{"AccessToken", cfg.Gateway.AccessToken, ""},
		{"LogLevel", cfg.Gateway.LogLevel, "info"},
		{"LogFormat", cfg.Gateway.LogFormat, "text"},
		{"HeartbeatInterval", cfg.Gateway.HeartbeatInterval, 5 * time.Second},
		{"ShutdownTimeout", cfg.Gateway.ShutdownTimeout, 10 * time.Second},
		{"ReconnectInterval", cfg.Gateway.ReconnectInterval, 3 * time.Second},
		{"V12ReverseWS", len(cfg.Gateway.V12ReverseWS), 0},
		{"V11ReverseWS", len(cfg.Gateway.V11ReverseWS), 0},
		{"PushAccessToken", cfg.Gateway.PushAccessToken, ""},
		{"WebhookReplyScope", cfg.Gateway.WebhookReplyScope, "event"},
		{"len(Bots)", len(cfg.Bots), 1},
	}
	b := cfg.Bots[0]
	checks = append(checks, []struct {
		name      string
		got, want any
	}{
		{"Index", b.Index, 0},
		{"Homeserver", b.Homeserver, "https://matrix.example.org"},
		{"RefreshBeforeExpiryMS", b.RefreshBeforeExpiryMS, int64(60000)},
		{"RefreshBeforeExpiry", b.RefreshBeforeExpiry(), time.Minute},
		{"AccessTokenExpiresAt zero", b.AccessTokenExpiresAt().IsZero(), true},
		{"SetPresence", b.SetPresence, "online"},
		{"AutoAcceptInvites", b.AutoAcceptInvites, false},
		{"AutoAcceptWhitelist nil", b.AutoAcceptWhitelist == nil, true},
		{"AutoAcceptBlacklist non-nil", b.AutoAcceptBlacklist != nil, true},
		{"len(AutoAcceptBlacklist)", len(b.AutoAcceptBlacklist), 0},
		{"OAuthCallbackTimeout", b.OAuthCallbackTimeout, 300 * time.Second},
		{"E2EE", b.E2EE, true},
		{"EncryptionSharingStrategy", b.EncryptionSharingStrategy, "all_devices"},
		{"BackupDownloadStrategy", b.BackupDownloadStrategy, ""},
		{"OneBotSelfID", b.OneBotSelfID, int64(0)},
		{"SyncFilter nil", b.SyncFilter == nil, true},
		{"Name", b.Name(), "bot #0"},
	}...)
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := cfg.Gateway.Level().String(); got != "INFO" {
		t.Errorf("Level() = %s, want INFO", got)
	}
}

func TestLoadSetValues(t *testing.T) {
	cfg := mustLoad(t, withBots(
		"MATRIX_API_TIMEOUT=12.5",
		"MATRIX_SYNC_TIMEOUT=1500",
		"MATRIX_RETRY_INTERVAL=0.25",
		"MATRIX_HANDLE_SELF_MESSAGE=true",
		"MATRIX_HANDLE_OLD_EVENTS=yes",
		"MATRIX_PROXY=socks5://127.0.0.1:1080",
		"MATRIX_TOKEN_STORE_PATH=/var/lib/gw/tokens.json",
		"MATRIX_RECOVERY_CODE=EsTb global",
		"GATEWAY_LISTEN=0.0.0.0:6700",
		"GATEWAY_DATABASE=/var/lib/gw/gw.db",
		"GATEWAY_ACCESS_TOKEN=s3cret",
		"GATEWAY_LOG_LEVEL=DEBUG",
		"GATEWAY_LOG_FORMAT=json",
		"GATEWAY_HEARTBEAT_INTERVAL=1s",
		"GATEWAY_SHUTDOWN_TIMEOUT=1m",
		"GATEWAY_RECONNECT_INTERVAL=500ms",
		"GATEWAY_V12_REVERSE_WS= ws://a.example/v12 , wss://b.example/v12,",
		"GATEWAY_V11_REVERSE_WS=ws://127.0.0.1:8080/onebot/v11/ws",
	))
	g := cfg.Gateway
	checks := []struct {
		name      string
		got, want any
	}{
		{"APITimeout", cfg.APITimeout, 12500 * time.Millisecond},
		{"SyncTimeout", cfg.SyncTimeout, 1500 * time.Millisecond},
		{"RetryInterval", cfg.RetryInterval, 250 * time.Millisecond},
		{"HandleSelfMessage", cfg.HandleSelfMessage, true},
		{"HandleOldEvents", cfg.HandleOldEvents, true},
		{"Proxy", cfg.Proxy.String(), "socks5://127.0.0.1:1080"},
		{"TokenStorePath", cfg.TokenStorePath, "/var/lib/gw/tokens.json"},
		{"RecoveryCode", cfg.RecoveryCode, "EsTb global"},
		{"bot RecoveryKey from MATRIX_RECOVERY_CODE", cfg.Bots[0].RecoveryKey(), "EsTb global"},
		{"Listen", g.Listen, "0.0.0.0:6700"},
		{"Database", g.Database, "/var/lib/gw/gw.db"},
		{"AccessToken", g.AccessToken, "s3cret"},
		{"LogLevel", g.LogLevel, "debug"},
		{"LogFormat", g.LogFormat, "json"},
		{"HeartbeatInterval", g.HeartbeatInterval, time.Second},
		{"ShutdownTimeout", g.ShutdownTimeout, time.Minute},
		{"ReconnectInterval", g.ReconnectInterval, 500 * time.Millisecond},
		{"V12ReverseWS", strings.Join(g.V12ReverseWS, " "), "ws://a.example/v12 wss://b.example/v12"},
		{"V11ReverseWS", strings.Join(g.V11ReverseWS, " "), "ws://127.0.0.1:8080/onebot/v11/ws"},
		{"PushAccessToken is not AccessToken", g.PushAccessToken, ""},
		{"Level", g.Level().String(), "DEBUG"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	cfg = mustLoad(t, withBots("GATEWAY_ACCESS_TOKEN=a", "GATEWAY_REVERSE_WS_ACCESS_TOKEN=b"))
	if got := cfg.Gateway.PushAccessToken; got != "b" {
		t.Errorf("PushAccessToken from the older GATEWAY_REVERSE_WS_ACCESS_TOKEN = %q, want b", got)
	}
	cfg = mustLoad(t, withBots("GATEWAY_ACCESS_TOKEN=a", "GATEWAY_PUSH_ACCESS_TOKEN=c", "GATEWAY_WEBHOOK_REPLY_SCOPE=Bot"))
	if got := cfg.Gateway.PushAccessToken; got != "c" {
		t.Errorf("PushAccessToken = %q, want c", got)
	}
	if got := cfg.Gateway.WebhookReplyScope; got != "bot" {
		t.Errorf("WebhookReplyScope = %q, want bot", got)
	}
}

func TestLoadSeedExamples(t *testing.T) {
	tests := []struct {
		file  string
		env   []string
		check func(t *testing.T, b Bot)
	}{
		{"static_token.json", nil, func(t *testing.T, b Bot) {
			if b.AccessToken != "YOUR_ACCESS_TOKEN" || b.UserID != "@bot:example.org" || b.Name() != "@bot:example.org" {
				t.Errorf("got %v", b)
			}
		}},
		{"password_login.json", nil, func(t *testing.T, b Bot) {
			if b.LoginUser != "@bot:example.org" || b.LoginPassword != "your-password" ||
				b.DeviceID != "BOTDEVICE" || b.SetPresence != "online" || b.Name() != "@bot:example.org" {
				t.Errorf("got %v", b)
			}
		}},
		{"oauth_minimal.json", nil, func(t *testing.T, b Bot) {
			if !b.OAuthEnabled || b.OAuthServerURL != "https://account.matrix.org" || !b.OAuthOpenBrowser ||
				b.OAuthCallbackTimeout != 300*time.Second {
				t.Errorf("got %v", b)
			}
		}},
		{"oauth_client.json", nil, func(t *testing.T, b Bot) {
			if b.OAuthClientID != "your-client-id" || b.OAuthRedirectURI != "https://your-app.example/callback" {
				t.Errorf("got %v", b)
			}
		}},
		{"common_fields.json", nil, func(t *testing.T, b Bot) {
			if b.RefreshToken != "OPTIONAL_REFRESH_TOKEN" || b.AccessTokenExpiresAtMS != 1760000000000 ||
				!b.AccessTokenExpiresAt().Equal(time.UnixMilli(1760000000000)) || b.RefreshBeforeExpiryMS != 60000 {
				t.Errorf("got %v", b)
			}
			if f, ok := b.SyncFilterJSON(); !ok || string(f) != `{"room": {"timeline": {"limit": 50}}}` {
				t.Errorf("SyncFilterJSON() = %s, %t", f, ok)
			}
			if _, ok := b.SyncFilterID(); ok {
				t.Error("SyncFilterID() ok for an object filter")
			}
			if !b.AutoAcceptInvites || b.AutoAcceptWhitelist != nil || b.AutoAcceptBlacklist == nil {
				t.Errorf("auto-accept = %t %v %v", b.AutoAcceptInvites, b.AutoAcceptWhitelist, b.AutoAcceptBlacklist)
			}
		}},
		{"e2ee.json", nil, func(t *testing.T, b Bot) {
			if b.RecoveryKey() != "EsTb ..." || b.E2EEStorePath != ".data/e2ee_store" || !b.E2EE {
				t.Errorf("got %v, recovery key %q", b, b.RecoveryKey())
			}
		}},
		{"e2ee.json", []string{"MATRIX_RECOVERY_CODE=global"}, func(t *testing.T, b Bot) {
			if b.RecoveryKey() != "EsTb ..." {
				t.Errorf("own recovery_code should win over MATRIX_RECOVERY_CODE, got %q", b.RecoveryKey())
			}
		}},
		{"auto_accept.json", nil, func(t *testing.T, b Bot) {
			if b.AutoAcceptWhitelist == nil || len(*b.AutoAcceptWhitelist) != 2 ||
				len(b.AutoAcceptBlacklist) != 1 || b.AutoAcceptBlacklist[0] != "@spammer:matrix.org" {
				t.Errorf("whitelist %v blacklist %v", b.AutoAcceptWhitelist, b.AutoAcceptBlacklist)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "seed", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			cfg := mustLoad(t, append([]string{"MATRIX_BOTS=" + string(data)}, tt.env...))
			if len(cfg.Bots) != 1 {
				t.Fatalf("got %d bots, want 1", len(cfg.Bots))
			}
			tt.check(t, cfg.Bots[0])
		})
	}
}

func TestLoadSeedOtherVariables(t *testing.T) {
	environ := readEnvFile(t, filepath.Join("testdata", "seed", "other.env"))
	cfg := mustLoad(t, append(environ, minimalBots))
	if cfg.APITimeout != 30*time.Second || cfg.SyncTimeout != 30*time.Second || cfg.RetryInterval != 3*time.Second ||
		cfg.HandleSelfMessage || cfg.HandleOldEvents || cfg.Proxy.String() != "http://127.0.0.1:7890" ||
		cfg.TokenStorePath != ".data/matrix-tokens.json" {
		t.Errorf("got %v", cfg)
	}
}

type invalidBotsCase struct {
	Name     string          `json:"name"`
	Bots     json.RawMessage `json:"bots"`
	BotsText string          `json:"bots_text"`
	Env      []string        `json:"env"`
	Problems []string        `json:"problems"`
	Count    int             `json:"count"`
}

func TestLoadInvalidBots(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "invalid_bots.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []invalidBotsCase
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			bots := tc.BotsText
			if bots == "" {
				bots = string(tc.Bots)
			}
			_, err := Load(append([]string{"MATRIX_BOTS=" + bots}, tc.Env...))
			count := tc.Count
			if count == 0 {
				count = len(tc.Problems)
			}
			wantProblems(t, err, count, tc.Problems...)
		})
	}
}

// TestLoadReportsEveryProblem breaks variables and bots at once and expects
// every problem, not just the first.
func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load([]string{
		`MATRIX_BOTS=[
			{"homeserver": "https://a.example", "access_token": "t", "typo_key": 1},
			{"access_token": "t", "user_id": "nope"},
			{"homeserver": "https://b.example"}
		]`,
		"MATRIX_API_TIMEOUT=soon",
		"MATRIX_SYNC_TIMEOUT=30s",
		"MATRIX_RETRY_INTERVAL=-1",
		"MATRIX_HANDLE_SELF_MESSAGE=maybe",
		"MATRIX_PROXY=ftp://proxy.example",
		"GATEWAY_LISTEN=0.0.0.0:5700",
		"GATEWAY_LOG_LEVEL=verbose",
		"GATEWAY_LOG_FORMAT=xml",
		"GATEWAY_HEARTBEAT_INTERVAL=500ms",
		"GATEWAY_SHUTDOWN_TIMEOUT=10",
		"GATEWAY_RECONNECT_INTERVAL=0s",
		"GATEWAY_V11_REVERSE_WS=http://a.example/ws",
		"GATEWAY_V12_REVERSE_WS=ws://",
	})
	want := []string{
		`MATRIX_API_TIMEOUT: invalid value "soon"`,
		`MATRIX_SYNC_TIMEOUT: invalid value "30s" (invalid syntax); set whole milliseconds`,
		`MATRIX_RETRY_INTERVAL: invalid value "-1" (negative)`,
		`MATRIX_HANDLE_SELF_MESSAGE: invalid value "maybe" (not a boolean); set true or false`,
		`MATRIX_PROXY: has scheme "ftp"`,
		`GATEWAY_ACCESS_TOKEN: required when GATEWAY_LISTEN ("0.0.0.0:5700") is not a loopback address; set a token, or listen on 127.0.0.1`,
		`GATEWAY_LOG_LEVEL: invalid value "verbose"; set debug, info, warn or error`,
		`GATEWAY_LOG_FORMAT: invalid value "xml"; set text or json`,
		`GATEWAY_HEARTBEAT_INTERVAL: 500ms is shorter than 1s`,
		`GATEWAY_SHUTDOWN_TIMEOUT: invalid value "10"`,
		`GATEWAY_RECONNECT_INTERVAL: must be greater than 0`,
		`GATEWAY_V11_REVERSE_WS: entry 1 (http://a.example/ws) has scheme "http"`,
		`GATEWAY_V12_REVERSE_WS: entry 1 (ws:) has no host`,
		`MATRIX_BOTS[0]: unknown key "typo_key"`,
		`MATRIX_BOTS[1].homeserver: required`,
		`MATRIX_BOTS[1].user_id: "nope" is not a Matrix user ID`,
		`MATRIX_BOTS[2]: no credentials`,
	}
	wantProblems(t, err, len(want), want...)
	if !strings.HasPrefix(err.Error(), "invalid configuration (17 problems):\n  - ") {
		t.Errorf("Error() starts %q", err.Error()[:60])
	}
}

func TestLoadMissingBots(t *testing.T) {
	_, err := Load(nil)
	wantProblems(t, err, 1, "MATRIX_BOTS: required; set a JSON list of bot objects")
	_, err = Load([]string{"MATRIX_BOTS="})
	wantProblems(t, err, 1, "MATRIX_BOTS: required")
}

func TestLoadUnknownKey(t *testing.T) {
	_, err := Load([]string{`MATRIX_BOTS=[{"homeserver": "https://m.example", "access_token": "t", "oauth_enable": true}]`})
	wantProblems(t, err, 1, `MATRIX_BOTS[0]: unknown key "oauth_enable" (did you mean "oauth_enabled"?); remove it or fix its spelling`)
}

func TestLoadWhitelist(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		wantNil   bool
		wantLen   int
		aliceOK   bool
		strangerK bool
	}{
		{"absent", ``, true, 0, true, true},
		{"null", `, "auto_accept_whitelist": null`, true, 0, true, true},
		{"empty", `, "auto_accept_whitelist": []`, false, 0, false, false},
		{"alice", `, "auto_accept_whitelist": ["@alice:example.org"]`, false, 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, []string{`MATRIX_BOTS=[{"homeserver": "https://m.example", "access_token": "t",
				"auto_accept_invites": true, "auto_accept_blacklist": ["@mallory:example.org"]` + tt.json + `}]`})
			b := cfg.Bots[0]
			if (b.AutoAcceptWhitelist == nil) != tt.wantNil {
				t.Fatalf("whitelist nil = %t, want %t", b.AutoAcceptWhitelist == nil, tt.wantNil)
			}
			if !tt.wantNil && len(*b.AutoAcceptWhitelist) != tt.wantLen {
				t.Errorf("len(whitelist) = %d, want %d", len(*b.AutoAcceptWhitelist), tt.wantLen)
			}
			if got := b.MayAutoAccept("@alice:example.org"); got != tt.aliceOK {
				t.Errorf("MayAutoAccept(alice) = %t, want %t", got, tt.aliceOK)
			}
			if got := b.MayAutoAccept("@stranger:example.org"); got != tt.strangerK {
				t.Errorf("MayAutoAccept(stranger) = %t, want %t", got, tt.strangerK)
			}
			if b.MayAutoAccept("@mallory:example.org") {
				t.Error("blacklisted inviter accepted")
			}
			b.AutoAcceptInvites = false
			if b.MayAutoAccept("@alice:example.org") {
				t.Error("accepted with auto_accept_invites false")
			}
		})
	}
}

func TestLoadSeconds(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		problem string
	}{
		{"30.0", 30 * time.Second, ""},
		{"30", 30 * time.Second, ""},
		{"0.5", 500 * time.Millisecond, ""},
		{"1e-3", time.Millisecond, ""},
		{" 2.25 ", 2250 * time.Millisecond, ""},
		{"0", 0, "must be greater than 0"},
		{"-1", 0, `invalid value "-1" (negative)`},
		{"NaN", 0, `invalid value "NaN" (not a number of seconds)`},
		{"Inf", 0, `invalid value "Inf" (not a number of seconds)`},
		{"1e300", 0, `invalid value "1e300" (too large)`},
		{"30s", 0, `invalid value "30s" (not a number of seconds); set a number of seconds greater than 0, e.g. 30.0`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := Load(withBots("MATRIX_API_TIMEOUT="+tt.value, "MATRIX_RETRY_INTERVAL="+tt.value))
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.APITimeout != tt.want || cfg.RetryInterval != tt.want {
					t.Errorf("got %v and %v, want %v", cfg.APITimeout, cfg.RetryInterval, tt.want)
				}
				return
			}
			wantProblems(t, err, 2, "MATRIX_API_TIMEOUT: "+tt.problem, "MATRIX_RETRY_INTERVAL: ")
		})
	}
}

func TestLoadBools(t *testing.T) {
	for _, v := range []string{"1", "true", "True", "TRUE", "t", "yes", "Y", "on"} {
		if cfg := mustLoad(t, withBots("MATRIX_HANDLE_OLD_EVENTS="+v)); !cfg.HandleOldEvents {
			t.Errorf("%q parsed as false", v)
		}
	}
	for _, v := range []string{"0", "false", "False", "f", "no", "N", "off", ""} {
		if cfg := mustLoad(t, withBots("MATRIX_HANDLE_OLD_EVENTS=true", "MATRIX_HANDLE_OLD_EVENTS="+v)); cfg.HandleOldEvents {
			t.Errorf("%q parsed as true", v)
		}
	}
}

func TestLoadListen(t *testing.T) {
	tests := []struct {
		listen  string
		token   string
		problem string
	}{
		{"127.0.0.1:5700", "", ""},
		{"127.1.2.3:5700", "", ""},
		{"localhost:5700", "", ""},
		{"LocalHost:5700", "", ""},
		{"[::1]:5700", "", ""},
		{"127.0.0.1:0", "", ""},
		{"", "", ""}, // disabled, but a reverse WS is configured below
		{"0.0.0.0:5700", "", "GATEWAY_ACCESS_TOKEN: required when GATEWAY_LISTEN (\"0.0.0.0:5700\") is not a loopback address"},
		{":5700", "", "GATEWAY_ACCESS_TOKEN: required when GATEWAY_LISTEN (\":5700\")"},
		{"[::]:5700", "", "GATEWAY_ACCESS_TOKEN: required"},
		{"192.168.1.10:5700", "", "GATEWAY_ACCESS_TOKEN: required"},
		{"gateway.example.org:5700", "", "GATEWAY_ACCESS_TOKEN: required"},
		{"localhost.example.org:5700", "", "GATEWAY_ACCESS_TOKEN: required"},
		{"0.0.0.0:5700", "tok", ""},
		{"[::]:5700", "tok", ""},
		{"127.0.0.1", "", "GATEWAY_LISTEN: \"127.0.0.1\" is not host:port"},
		{"127.0.0.1:http", "", "port \"http\" is not a number"},
		{"127.0.0.1:70000", "", "port \"70000\" is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.listen+"/"+tt.token, func(t *testing.T) {
			environ := withBots("GATEWAY_LISTEN="+tt.listen, "GATEWAY_V12_REVERSE_WS=ws://127.0.0.1:9000/")
			if tt.token != "" { // set but empty is a problem of its own (TestLoadTokensMustBeUsable)
				environ = append(environ, "GATEWAY_ACCESS_TOKEN="+tt.token)
			}
			cfg, err := Load(environ)
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Gateway.Listen != tt.listen {
					t.Errorf("Listen = %q, want %q", cfg.Gateway.Listen, tt.listen)
				}
				return
			}
			wantProblems(t, err, 1, tt.problem)
		})
	}
}

func TestLoadNothingToServe(t *testing.T) {
	_, err := Load(withBots("GATEWAY_LISTEN="))
	wantProblems(t, err, 1, "GATEWAY_LISTEN: is empty, which disables the HTTP server, and no reverse WebSocket is configured")

	cfg := mustLoad(t, []string{"GATEWAY_LISTEN=",
		`MATRIX_BOTS=[{"homeserver": "https://m.example", "access_token": "t", "onebot_v11_reverse_ws": ["wss://nb.example/onebot/v11/ws"]}]`})
	if got := cfg.Bots[0].OneBotV11ReverseWS; len(got) != 1 || got[0] != "wss://nb.example/onebot/v11/ws" {
		t.Errorf("OneBotV11ReverseWS = %v", got)
	}
}

func TestLoadBotsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bots.json")
	data, err := os.ReadFile(filepath.Join("testdata", "seed", "common_fields.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := mustLoad(t, []string{"MATRIX_BOTS_FILE=" + path})
	if len(cfg.Bots) != 1 || cfg.Bots[0].UserID != "@bot:example.org" {
		t.Errorf("got bots %v", cfg.Bots)
	}

	_, err = Load([]string{"MATRIX_BOTS_FILE=" + path, minimalBots})
	wantProblems(t, err, 1, "MATRIX_BOTS_FILE: both MATRIX_BOTS and MATRIX_BOTS_FILE are set; set only one of them")

	_, err = Load([]string{"MATRIX_BOTS_FILE=" + filepath.Join(dir, "missing.json")})
	wantProblems(t, err, 1, "MATRIX_BOTS_FILE: failed to read", "no such file or directory")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("[{\"homeserver\": \"https://m.example\",\n \"access_token\": t}]"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load([]string{"MATRIX_BOTS_FILE=" + bad})
	wantProblems(t, err, 1, "MATRIX_BOTS_FILE: invalid JSON at line 2, column 19")
}

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("  file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := mustLoad(t, withBots("GATEWAY_ACCESS_TOKEN_FILE="+tokenFile, "MATRIX_RECOVERY_CODE_FILE="+tokenFile,
		"GATEWAY_LISTEN=0.0.0.0:5700"))
	if cfg.Gateway.AccessToken != "file-token" || cfg.Gateway.PushAccessToken != "" ||
		cfg.RecoveryCode != "file-token" {
		t.Errorf("got %q %q %q", cfg.Gateway.AccessToken, cfg.Gateway.PushAccessToken, cfg.RecoveryCode)
	}

	_, err := Load(withBots("GATEWAY_ACCESS_TOKEN_FILE="+tokenFile, "GATEWAY_ACCESS_TOKEN=x",
		"GATEWAY_REVERSE_WS_ACCESS_TOKEN_FILE="+empty,
		"MATRIX_RECOVERY_CODE_FILE="+filepath.Join(dir, "nope")))
	wantProblems(t, err, 3,
		"GATEWAY_ACCESS_TOKEN_FILE: both GATEWAY_ACCESS_TOKEN and GATEWAY_ACCESS_TOKEN_FILE are set",
		"GATEWAY_REVERSE_WS_ACCESS_TOKEN_FILE: file",
		"MATRIX_RECOVERY_CODE_FILE: failed to read")
}

func TestLoadTokenStoreIsACredential(t *testing.T) {
	bots := `MATRIX_BOTS=[{"homeserver": "https://m.example/", "user_id": "@bot:m.example"}]`
	_, err := Load([]string{bots})
	wantProblems(t, err, 1, "MATRIX_BOTS[0]: no credentials")
	cfg := mustLoad(t, []string{bots, "MATRIX_TOKEN_STORE_PATH=/tmp/tokens.json"})
	if cfg.Bots[0].Homeserver != "https://m.example" {
		t.Errorf("Homeserver = %q, want the trailing slash trimmed", cfg.Bots[0].Homeserver)
	}
}

func TestBotSyncFilter(t *testing.T) {
	cfg := mustLoad(t, []string{`MATRIX_BOTS=[
		{"homeserver": "https://m.example", "access_token": "t", "sync_filter": "filter-42"},
		{"homeserver": "https://m.example", "access_token": "t", "sync_filter": null},
		{"homeserver": "https://m.example", "access_token": "t", "sync_filter": {}}
	]`})
	if id, ok := cfg.Bots[0].SyncFilterID(); !ok || id != "filter-42" {
		t.Errorf("SyncFilterID() = %q, %t", id, ok)
	}
	if _, ok := cfg.Bots[0].SyncFilterJSON(); ok {
		t.Error("SyncFilterJSON() ok for a filter ID")
	}
	if _, ok := cfg.Bots[1].SyncFilterID(); ok || cfg.Bots[1].SyncFilter != nil {
		t.Errorf("null filter: SyncFilter = %s", cfg.Bots[1].SyncFilter)
	}
	if f, ok := cfg.Bots[2].SyncFilterJSON(); !ok || string(f) != "{}" {
		t.Errorf("SyncFilterJSON() = %s, %t", f, ok)
	}
}

func TestBotName(t *testing.T) {
	tests := []struct {
		bot  Bot
		want string
	}{
		{Bot{Index: 3, UserID: "@a:b", LoginUser: "c"}, "@a:b"},
		{Bot{Index: 3, LoginUser: "c"}, "c"},
		{Bot{Index: 3}, "bot #3"},
	}
	for _, tt := range tests {
		if got := tt.bot.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
	var _ id.UserID = Bot{}.UserID
}

func TestVariablesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range Variables() {
		if seen[v] || v == "" {
			t.Errorf("variable %q empty or listed twice", v)
		}
		seen[v] = true
	}
}

func TestLoadUnreadableTokenFileIsOneProblem(t *testing.T) {
	_, err := Load(withBots("GATEWAY_LISTEN=0.0.0.0:5700", "GATEWAY_ACCESS_TOKEN_FILE="+filepath.Join(t.TempDir(), "missing")))
	wantProblems(t, err, 1, "GATEWAY_ACCESS_TOKEN_FILE: failed to read")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
}

func TestLoadIgnoresProcessEnvironment(t *testing.T) {
	t.Setenv("GATEWAY_LOG_LEVEL", "bogus")
	t.Setenv("MATRIX_BOTS", `[{"homeserver": "https://m.example", "access_token": "t"}]`)
	if cfg := mustLoad(t, withBots()); cfg.Gateway.LogLevel != "info" {
		t.Errorf("LogLevel = %q: read from the process environment", cfg.Gateway.LogLevel)
	}
	_, err := Load(nil)
	wantProblems(t, err, 1, "MATRIX_BOTS: required")
}

func TestTransportVariables(t *testing.T) {
	cfg := mustLoad(t, withBots(
		"GATEWAY_V11_REVERSE_WS_API=ws://a.example/api", "GATEWAY_V11_REVERSE_WS_EVENT=ws://a.example/event",
		"GATEWAY_V11_HTTP_POST=http://a.example/post", "GATEWAY_V12_WEBHOOK=https://a.example/hook,http://b.example/hook",
		"GATEWAY_WEBHOOK_SECRET=s", "GATEWAY_WEBHOOK_TIMEOUT=2s", "GATEWAY_WEBHOOK_RETRIES=0",
		"GATEWAY_V11_POST_FORMAT=String", "GATEWAY_V12_EVENT_BUFFER=0", "GATEWAY_OUTBOX_MAX_EVENTS=5",
		"GATEWAY_OUTBOX_MAX_AGE=1h", "GATEWAY_OUTBOX_REPLAY_RATE=2.5", "GATEWAY_OUTBOX_EXCLUDE=http://a.example/post"))
	g := cfg.Gateway
	if len(g.V11ReverseWSAPI) != 1 || len(g.V11ReverseWSEvent) != 1 || len(g.V11HTTPPost) != 1 || len(g.V12Webhook) != 2 ||
		g.WebhookSecret != "s" || g.WebhookTimeout != 2*time.Second || g.WebhookRetries != 0 || g.V11PostFormat != "string" ||
		g.V12EventBuffer != 0 || g.OutboxMaxEvents != 5 || g.OutboxMaxAge != time.Hour || g.OutboxReplayRate != 2.5 ||
		len(g.OutboxExclude) != 1 {
		t.Fatalf("gateway = %+v", g)
	}
	if strings.Contains(g.String(), "=s ") || strings.Contains(cfg.String(), "secret=s ") {
		t.Fatalf("the webhook secret leaks: %s", g)
	}
	defaults := mustLoad(t, withBots()).Gateway
	if defaults.V11PostFormat != "array" || defaults.WebhookTimeout != 5*time.Second || defaults.WebhookRetries != 2 ||
		defaults.V12EventBuffer != 1000 || defaults.OutboxMaxEvents != 10000 || defaults.OutboxMaxAge != 24*time.Hour {
		t.Fatalf("defaults = %+v", defaults)
	}
	_, err := Load(withBots("GATEWAY_V11_HTTP_POST=ws://a.example/x", "GATEWAY_V12_WEBHOOK=http://a/x,http://a/x",
		"GATEWAY_V11_POST_FORMAT=xml", "GATEWAY_WEBHOOK_RETRIES=-1", "GATEWAY_OUTBOX_REPLAY_RATE=0", "GATEWAY_WEBHOOK_TIMEOUT=0s"))
	wantProblems(t, err, 6, "GATEWAY_V11_HTTP_POST", "listed twice", "GATEWAY_V11_POST_FORMAT", "GATEWAY_WEBHOOK_RETRIES",
		"GATEWAY_OUTBOX_REPLAY_RATE", "GATEWAY_WEBHOOK_TIMEOUT")
}

// GATEWAY_ENCRYPT_REACTIONS is off unless set; a bad value is a problem naming it.
func TestEncryptReactions(t *testing.T) {
	if cfg := mustLoad(t, withBots()); cfg.Gateway.EncryptReactions {
		t.Error("reactions must be sent unencrypted by default")
	}
	if cfg := mustLoad(t, withBots("GATEWAY_ENCRYPT_REACTIONS=true")); !cfg.Gateway.EncryptReactions {
		t.Error("GATEWAY_ENCRYPT_REACTIONS=true was not applied")
	}
	_, err := Load(withBots("GATEWAY_ENCRYPT_REACTIONS=sometimes"))
	wantProblems(t, err, 1, "GATEWAY_ENCRYPT_REACTIONS")
}

// GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS is off unless set; a bad value is a problem naming it.
func TestPlaintextInEncryptedRooms(t *testing.T) {
	if cfg := mustLoad(t, withBots()); cfg.Gateway.PlaintextInEncryptedRooms {
		t.Error("unencrypted messages in encrypted rooms must be dropped by default")
	}
	if cfg := mustLoad(t, withBots("GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true")); !cfg.Gateway.PlaintextInEncryptedRooms {
		t.Error("GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=true was not applied")
	}
	_, err := Load(withBots("GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS=maybe"))
	wantProblems(t, err, 1, "GATEWAY_PLAINTEXT_IN_ENCRYPTED_ROOMS")
}

func TestWebVariables(t *testing.T) {
	d := mustLoad(t, withBots()).Gateway.Web
	if len(d.AllowedOrigins) != 0 || d.ReadTimeout != time.Minute || d.WriteTimeout != 5*time.Minute ||
		d.IdleTimeout != time.Minute || d.MaxConnections != 512 || d.MaxConnectionsPerAddr != 64 ||
		d.MaxActionSize != 1<<20 || d.MaxBytesInFlight != 256<<20 {
		t.Fatalf("defaults = %+v", d)
	}
	// The largest upload (50 MiB as base64) plus the rest of a request.
	if want := int64(52428800/3*4 + 4 + 1<<20); d.MaxUploadSize != want {
		t.Fatalf("MaxUploadSize = %d, want %d", d.MaxUploadSize, want)
	}
	if strings.Join(d.Hosts, ",") != "127.0.0.1" {
		t.Fatalf("Hosts = %v, want the listen host", d.Hosts)
	}

	w := mustLoad(t, withBots("GATEWAY_ALLOWED_ORIGINS=HTTPS://Dash.Example.org:443, http://[::1]:8080,http://a.example/",
		"GATEWAY_PUBLIC_URL=https://Bots.Example.org/base", "GATEWAY_HTTP_READ_TIMEOUT=5s", "GATEWAY_MAX_CONNECTIONS=10",
		"GATEWAY_MAX_CONNECTIONS_PER_ADDRESS=10", "GATEWAY_MAX_ACTION_SIZE=4096", "GATEWAY_MEDIA_MAX_SIZE=3000",
		"GATEWAY_MAX_BYTES_IN_FLIGHT=8100")).Gateway.Web
	if got := strings.Join(w.AllowedOrigins, " "); got != "https://dash.example.org http://[::1]:8080 http://a.example" {
		t.Fatalf("AllowedOrigins = %q", got)
	}
	if strings.Join(w.Hosts, ",") != "127.0.0.1,bots.example.org" || w.ReadTimeout != 5*time.Second ||
		w.MaxConnections != 10 || w.MaxActionSize != 4096 || w.MaxUploadSize != 4000+4+4096 {
		t.Fatalf("web = %+v", w)
	}

	_, err := Load(withBots("GATEWAY_ALLOWED_ORIGINS=https://ok.example,ftp://x.example,https://x.example/path,*",
		"GATEWAY_HTTP_IDLE_TIMEOUT=0s", "GATEWAY_MAX_CONNECTIONS=8", "GATEWAY_MAX_CONNECTIONS_PER_ADDRESS=9",
		"GATEWAY_MAX_ACTION_SIZE=100", "GATEWAY_MAX_BYTES_IN_FLIGHT=1000000"))
	wantProblems(t, err, 7, "GATEWAY_ALLOWED_ORIGINS: entry 2", "entry 3", "entry 4", "GATEWAY_HTTP_IDLE_TIMEOUT",
		"GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", "GATEWAY_MAX_ACTION_SIZE", "GATEWAY_MAX_BYTES_IN_FLIGHT")
}

// GATEWAY_START_CONCURRENCY and GATEWAY_START_JITTER: defaults, set values, and a problem
// naming each when out of range.
func TestStartVariables(t *testing.T) {
	d := mustLoad(t, withBots()).Gateway
	if d.StartConcurrency != 8 || d.StartJitter != 200*time.Millisecond {
		t.Fatalf("defaults: concurrency %d, jitter %v; want 8, 200ms", d.StartConcurrency, d.StartJitter)
	}
	g := mustLoad(t, withBots("GATEWAY_START_CONCURRENCY=3", "GATEWAY_START_JITTER=0s")).Gateway
	if g.StartConcurrency != 3 || g.StartJitter != 0 {
		t.Fatalf("set: concurrency %d, jitter %v; want 3, 0s", g.StartConcurrency, g.StartJitter)
	}
	_, err := Load(withBots("GATEWAY_START_CONCURRENCY=0", "GATEWAY_START_JITTER=-1s"))
	wantProblems(t, err, 2, "GATEWAY_START_CONCURRENCY", "GATEWAY_START_JITTER")
	_, err = Load(withBots("GATEWAY_START_CONCURRENCY=many"))
	wantProblems(t, err, 1, "GATEWAY_START_CONCURRENCY")
}

// The Satori face is at /satori/v1/… unless GATEWAY_SATORI_PATH says otherwise ("off" turns it
// off); GATEWAY_SATORI_BACKLOG bounds the events kept for resuming clients.
func TestSatoriVariables(t *testing.T) {
	g := mustLoad(t, withBots()).Gateway
	if g.SatoriPath != "/satori" || g.SatoriOff || g.SatoriBacklog != 1000 {
		t.Fatalf("defaults: path %q off %v backlog %d", g.SatoriPath, g.SatoriOff, g.SatoriBacklog)
	}
	for in, want := range map[string]string{"/": "", "/bots/satori/": "/bots/satori", "/x": "/x"} {
		if g := mustLoad(t, withBots("GATEWAY_SATORI_PATH="+in)).Gateway; g.SatoriPath != want || g.SatoriOff {
			t.Errorf("GATEWAY_SATORI_PATH=%s: path %q off %v, want %q", in, g.SatoriPath, g.SatoriOff, want)
		}
	}
	if g := mustLoad(t, withBots("GATEWAY_SATORI_PATH=off", "GATEWAY_SATORI_BACKLOG=5")).Gateway; !g.SatoriOff || g.SatoriPath != "" || g.SatoriBacklog != 5 {
		t.Fatalf("off: %+v", g)
	}
	_, err := Load(withBots("GATEWAY_SATORI_PATH=satori", "GATEWAY_SATORI_BACKLOG=0"))
	wantProblems(t, err, 2, "GATEWAY_SATORI_PATH", "GATEWAY_SATORI_BACKLOG")
	_, err = Load(withBots("GATEWAY_SATORI_PATH=/a?b"))
	wantProblems(t, err, 1, "GATEWAY_SATORI_PATH")
}

// GATEWAY_SATORI_PATH may not put the Satori API under a path the gateway serves otherwise: under
// /media/ the cross-site guard lets every page call it (media links are meant to be embedded),
// under /admin/ or /onebot/ it collides with those routes.
func TestSatoriPathNotUnderTheGatewaysOwnRoutes(t *testing.T) {
	for _, p := range []string{"/media", "/media/satori", "/admin", "/admin/x/", "/onebot", "/onebot/v12", "/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		_, err := Load(withBots("GATEWAY_SATORI_PATH=" + p))
		wantProblems(t, err, 1, "GATEWAY_SATORI_PATH")
	}
	for _, p := range []string{"/mediasatori", "/satori/media", "/administration"} {
		mustLoad(t, withBots("GATEWAY_SATORI_PATH="+p))
	}
}

// GATEWAY_CLUSTER needs PostgreSQL and a user_id on every bot; GATEWAY_CLUSTER_URL must be an
// http(s) URL.
func TestClusterVariables(t *testing.T) {
	if g := mustLoad(t, withBots()).Gateway; g.Cluster || g.ClusterURL != "" {
		t.Fatalf("defaults: cluster %v, url %q", g.Cluster, g.ClusterURL)
	}
	_, err := Load(withBots("GATEWAY_CLUSTER=true", "GATEWAY_CLUSTER_URL=ftp://x"))
	wantProblems(t, err, 3, "GATEWAY_CLUSTER_URL", "postgres://", "user_id")
	pg := []string{`MATRIX_BOTS=[{"homeserver": "https://a.example", "access_token": "t", "user_id": "@a:a.example"}]`,
		"GATEWAY_DATABASE=postgres://u:p@db.example/gw", "GATEWAY_PICKLE_KEY=0123456789abcdef0123456789abcdef", "GATEWAY_CLUSTER=true", "GATEWAY_CLUSTER_URL=http://10.0.0.5:5700"}
	if g := mustLoad(t, pg).Gateway; !g.Cluster || g.ClusterURL != "http://10.0.0.5:5700" {
		t.Fatalf("set: cluster %v, url %q", g.Cluster, g.ClusterURL)
	}
}

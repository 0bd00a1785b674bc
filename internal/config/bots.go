package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// botJSON mirrors one MATRIX_BOTS object exactly as written; its json tags
// are the complete list of accepted keys.
type botJSON struct {
	Homeserver             string          `json:"homeserver"`
	AccessToken            string          `json:"access_token"`
	RefreshToken           string          `json:"refresh_token"`
	AccessTokenExpiresAtMS int64           `json:"access_token_expires_at_ms"`
	RefreshBeforeExpiryMS  int64           `json:"refresh_before_expiry_ms"`
	UserID                 string          `json:"user_id"`
	DeviceID               string          `json:"device_id"`
	SyncFilter             json.RawMessage `json:"sync_filter"`
	SetPresence            string          `json:"set_presence"`
	AutoAcceptInvites      bool            `json:"auto_accept_invites"`
	AutoAcceptWhitelist    *[]string       `json:"auto_accept_whitelist"`
	AutoAcceptBlacklist    []string        `json:"auto_accept_blacklist"`

	LoginUser                     string `json:"login_user"`
	LoginPassword                 string `json:"login_password"`
	LoginInitialDeviceDisplayName string `json:"login_initial_device_display_name"`

	OAuthEnabled         bool    `json:"oauth_enabled"`
	OAuthServerURL       string  `json:"oauth_server_url"`
	OAuthMetadataURL     string  `json:"oauth_metadata_url"`
	OAuthClientID        string  `json:"oauth_client_id"`
	OAuthClientURI       string  `json:"oauth_client_uri"`
	OAuthRedirectURI     string  `json:"oauth_redirect_uri"`
	OAuthScope           string  `json:"oauth_scope"`
	OAuthDeviceID        string  `json:"oauth_device_id"`
	OAuthOpenBrowser     bool    `json:"oauth_open_browser"`
	OAuthCallbackTimeout float64 `json:"oauth_callback_timeout"`

	RecoveryCode              string `json:"recovery_code"`
	RecoveryKey               string `json:"recovery_key"`
	SecretStoragePassphrase   string `json:"secret_storage_passphrase"`
	E2EEStorePath             string `json:"e2ee_store_path"`
	E2EE                      bool   `json:"e2ee"`
	EncryptionSharingStrategy string `json:"encryption_sharing_strategy"`
	BackupDownloadStrategy    string `json:"backup_download_strategy"`

	OneBotSelfID       *int64   `json:"onebot_self_id"`
	OneBotV11ReverseWS []string `json:"onebot_v11_reverse_ws"`
	OneBotV12ReverseWS []string `json:"onebot_v12_reverse_ws"`
	OneBotMsgType      string   `json:"onebot_msgtype"`
	OneBotMarkdown     bool     `json:"onebot_markdown"`
	OneBotAccessToken  *string  `json:"onebot_access_token"`
	OneBotPushToken    *string  `json:"onebot_push_access_token"`
}

// defaultBotJSON returns a bot object holding the defaults; keys present in
// the JSON overwrite them (a JSON null leaves the default in place).
func defaultBotJSON() botJSON {
	return botJSON{
		RefreshBeforeExpiryMS:     60000,
		SetPresence:               "online",
		AutoAcceptBlacklist:       []string{},
		OAuthCallbackTimeout:      300,
		E2EE:                      true,
		EncryptionSharingStrategy: "all_devices",
	}
}

// SharingStrategies are the values of encryption_sharing_strategy: which devices get the bot's
// room keys (all of them; those their owner cross-signed; those of identities the bot verified).
// BackupDownloadStrategies are the values of backup_download_strategy.
var (
	SharingStrategies        = []string{"all_devices", "cross_signed_only", "verified_only"}
	BackupDownloadStrategies = []string{"", "one_shot", "after_decryption_failure", "manual"}
)

// BotKeys returns every key a MATRIX_BOTS object accepts.
func BotKeys() []string {
	t := reflect.TypeFor[botJSON]()
	keys := make([]string, t.NumField())
	for i := range t.NumField() {
		keys[i] = t.Field(i).Tag.Get("json")
	}
	return keys
}

// botFieldIndex maps each JSON key to its botJSON field index.
func botFieldIndex() map[string]int {
	t := reflect.TypeFor[botJSON]()
	idx := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		idx[t.Field(i).Tag.Get("json")] = i
	}
	return idx
}

// botsLoader reads and checks MATRIX_BOTS (or MATRIX_BOTS_FILE) into Bots, reporting to the
// loader's problems. It is its own type because the bot list is a JSON document with checks of
// its own (per-field decoding, duplicates, push tokens), apart from the flat environment
// variables the loader reads.
type botsLoader struct {
	problems *problems
}

const botsExample = `[{"homeserver": "https://matrix.example.org", "access_token": "…", "user_id": "@bot:example.org"}]`

// botsSource returns the MATRIX_BOTS JSON and the variable it came from.
func (l *botsLoader) botsSource(v *envVars) (data []byte, key string, ok bool) {
	switch {
	case v.Bots != "" && v.BotsFile != "":
		l.problems.add("MATRIX_BOTS_FILE", "both MATRIX_BOTS and MATRIX_BOTS_FILE are set; set only one of them")
		return nil, "", false
	case v.BotsFile != "":
		b, err := os.ReadFile(v.BotsFile)
		if err != nil {
			l.problems.wrap("MATRIX_BOTS_FILE", err, "failed to read %q: %v; set it to a readable JSON file, or set MATRIX_BOTS instead",
				v.BotsFile, errors.Unwrap(err))
			return nil, "", false
		}
		return b, "MATRIX_BOTS_FILE", true
	case v.Bots != "":
		return []byte(v.Bots), "MATRIX_BOTS", true
	}
	l.problems.add("MATRIX_BOTS", "required; set a JSON list of bot objects such as %s, or set MATRIX_BOTS_FILE to a file holding it", botsExample)
	return nil, "", false
}

// bots parses and checks the MATRIX_BOTS list. key is the variable the JSON
// came from, used in problems about the JSON text itself; paths into the
// list always say MATRIX_BOTS[i].
func (l *botsLoader) bots(data []byte, key string, cfg *Config) []Bot {
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		l.botsSyntax(data, key, err)
		return nil
	}
	if len(raws) == 0 {
		l.problems.add(key, "lists no bots; set a JSON list with at least one bot object, such as %s", botsExample)
		return nil
	}
	fields := botFieldIndex()
	bots := make([]Bot, 0, len(raws))
	for i, raw := range raws {
		if b, ok := l.bot(i, raw, fields, cfg); ok {
			bots = append(bots, b)
		}
	}
	// Bots with problems are kept above, so that duplicates among them are
	// reported too; Load returns no Config when there is any problem.
	l.duplicates(bots, cfg.Gateway.AccessToken)
	l.pushTokens(bots, cfg.Gateway.AccessToken, cfg.Gateway.PushAccessToken)
	return bots
}

// botsSyntax reports MATRIX_BOTS text that is not a JSON list.
func (l *botsLoader) botsSyntax(data []byte, key string, err error) {
	var serr *json.SyntaxError
	var terr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &serr):
		line, col := lineCol(data, serr.Offset)
		hint := ""
		if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '\'' || t[0] == '"') {
			hint = " (the value still has quotes around it: docker --env-file keeps them; remove them or use MATRIX_BOTS_FILE)"
		}
		l.problems.wrap(key, err, "invalid JSON at line %d, column %d (byte offset %d): %v%s; set a JSON list of bot objects such as %s",
			line, col, serr.Offset, serr, hint, botsExample)
	case errors.As(err, &terr):
		l.problems.wrap(key, err, "must be a JSON list of bot objects, got %s; write it as [ {…}, … ], e.g. %s",
			jsonKind(terr.Value), botsExample)
	default:
		l.problems.wrap(key, err, "failed to parse: %v; set a JSON list of bot objects such as %s", err, botsExample)
	}
}

// lineCol turns a byte offset (as in json.SyntaxError, which points just
// past the bad byte) into a 1-based line and column.
func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 1 {
		offset = 1
	}
	before := data[:offset-1]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// bot decodes and checks MATRIX_BOTS[i]. Every key is decoded on its own so
// that all unknown keys and all type errors are reported, not just the
// first. ok is false when the element is not an object.
func (l *botsLoader) bot(i int, raw json.RawMessage, fields map[string]int, cfg *Config) (Bot, bool) {
	path := fmt.Sprintf("MATRIX_BOTS[%d]", i)
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		l.problems.add(path, "must be a JSON object like {\"homeserver\": …}, got %s", jsonKind(kindOf(raw)))
		return Bot{}, false
	}

	j := defaultBotJSON()
	rv := reflect.ValueOf(&j).Elem()
	present := make(map[string]bool) // keys given
	failed := make(map[string]bool)  // keys whose value has the wrong type

	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'; raw is known-valid JSON
		l.problems.wrap(path, err, "failed to read: %v", err)
		return Bot{}, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			l.problems.wrap(path, err, "failed to read: %v", err)
			return Bot{}, false
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			l.problems.wrap(path, err, "failed to read %q: %v", key, err)
			return Bot{}, false
		}
		kpath := path + "." + key
		if present[key] {
			l.problems.add(kpath, "key appears twice; keep only one")
			continue
		}
		present[key] = true
		fi, known := fields[key]
		if !known {
			l.problems.add(path, "unknown key %q%s; remove it or fix its spelling", key, suggest(key))
			continue
		}
		f := rv.Field(fi)
		if err := json.Unmarshal(val, f.Addr().Interface()); err != nil {
			failed[key] = true
			got := jsonKind(kindOf(val))
			var terr *json.UnmarshalTypeError
			if errors.As(err, &terr) && got == "a list" {
				got = "a list with " + jsonKind(terr.Value) + " in it"
			} else if errors.As(err, &terr) && strings.HasPrefix(terr.Value, "number ") {
				got = terr.Value
			}
			l.problems.wrap(kpath, err, "must be %s, got %s", describeType(f.Type()), got)
		}
	}
	if bytes.Equal(j.SyncFilter, []byte("null")) {
		j.SyncFilter = nil
	}

	return l.checkBot(i, path, &j, present, failed, cfg), true
}

// checkBot validates a decoded bot object and converts it to a Bot.
func (l *botsLoader) checkBot(i int, path string, j *botJSON, present, failed map[string]bool, cfg *Config) Bot {
	b := Bot{
		Index:                         i,
		AccessToken:                   j.AccessToken,
		RefreshToken:                  j.RefreshToken,
		AccessTokenExpiresAtMS:        j.AccessTokenExpiresAtMS,
		RefreshBeforeExpiryMS:         j.RefreshBeforeExpiryMS,
		UserID:                        id.UserID(j.UserID),
		DeviceID:                      id.DeviceID(j.DeviceID),
		SyncFilter:                    j.SyncFilter,
		SetPresence:                   j.SetPresence,
		AutoAcceptInvites:             j.AutoAcceptInvites,
		LoginUser:                     j.LoginUser,
		LoginPassword:                 j.LoginPassword,
		LoginInitialDeviceDisplayName: j.LoginInitialDeviceDisplayName,
		OAuthEnabled:                  j.OAuthEnabled,
		OAuthServerURL:                j.OAuthServerURL,
		OAuthMetadataURL:              j.OAuthMetadataURL,
		OAuthClientID:                 j.OAuthClientID,
		OAuthClientURI:                j.OAuthClientURI,
		OAuthRedirectURI:              j.OAuthRedirectURI,
		OAuthScope:                    j.OAuthScope,
		OAuthDeviceID:                 id.DeviceID(j.OAuthDeviceID),
		OAuthOpenBrowser:              j.OAuthOpenBrowser,
		SecretStoragePassphrase:       j.SecretStoragePassphrase,
		E2EEStorePath:                 j.E2EEStorePath,
		E2EE:                          j.E2EE,
		EncryptionSharingStrategy:     j.EncryptionSharingStrategy,
		BackupDownloadStrategy:        j.BackupDownloadStrategy,
	}
	at := func(key string) string { return path + "." + key }

	// homeserver
	switch {
	case failed["homeserver"]:
	case strings.TrimSpace(j.Homeserver) == "":
		l.problems.add(at("homeserver"), "required; set the homeserver base URL, e.g. \"https://matrix.example.org\"")
	default:
		u, err := checkURL(strings.TrimSpace(j.Homeserver), "http", "https")
		switch {
		case err != nil:
			l.problems.wrap(at("homeserver"), err, "%v; set the homeserver base URL, e.g. \"https://matrix.example.org\"", err)
		case u.User != nil || u.RawQuery != "" || u.ForceQuery:
			l.problems.add(at("homeserver"), "must not carry user info or a ?query; set just the base URL, e.g. \"https://matrix.example.org\"")
		default:
			b.Homeserver = strings.TrimRight(u.String(), "/")
		}
	}

	// credentials
	hasLogin := j.LoginUser != "" && j.LoginPassword != ""
	switch {
	case failed["access_token"] || failed["login_user"] || failed["login_password"] || failed["oauth_enabled"]:
	case j.LoginUser != "" && j.LoginPassword == "":
		l.problems.add(at("login_password"), "required when login_user is set; set the account password, or remove login_user")
	case j.LoginUser == "" && j.LoginPassword != "":
		l.problems.add(at("login_user"), "required when login_password is set; set the user to log in as (e.g. \"@bot:example.org\"), or remove login_password")
	case j.AccessToken == "" && !hasLogin && !j.OAuthEnabled && cfg.TokenStorePath == "":
		l.problems.add(path, "no credentials: set access_token, or login_user and login_password, or oauth_enabled "+
			"(or set MATRIX_TOKEN_STORE_PATH to a store that already holds this bot's tokens)")
	}
	if j.AccessTokenExpiresAtMS < 0 {
		l.problems.add(at("access_token_expires_at_ms"), "must not be negative; set a Unix time in milliseconds, or remove it")
	}
	if j.RefreshBeforeExpiryMS < 0 {
		l.problems.add(at("refresh_before_expiry_ms"), "must not be negative; set milliseconds, e.g. 60000")
	}

	// identity
	if j.UserID != "" && !validUserID(j.UserID) {
		l.problems.add(at("user_id"), "%q is not a Matrix user ID; set it like \"@bot:example.org\", or remove it", j.UserID)
	}
	if present["sync_filter"] && b.SyncFilter != nil {
		_, isID := b.SyncFilterID()
		_, isJSON := b.SyncFilterJSON()
		switch {
		case isID && strings.TrimSpace(string(b.SyncFilter)) == `""`:
			l.problems.add(at("sync_filter"), "is an empty filter ID; set a filter ID, a filter object, or remove it")
		case !isID && !isJSON:
			l.problems.add(at("sync_filter"), "must be a filter ID string or a filter JSON object, got %s", jsonKind(kindOf(b.SyncFilter)))
		}
	}
	switch {
	case failed["set_presence"]:
	case j.SetPresence == "online", j.SetPresence == "offline", j.SetPresence == "unavailable":
	default:
		l.problems.add(at("set_presence"), "invalid value %q; set online, offline or unavailable", j.SetPresence)
	}

	// auto-accept
	if j.AutoAcceptWhitelist != nil && !failed["auto_accept_whitelist"] {
		wl := l.userIDs(at("auto_accept_whitelist"), *j.AutoAcceptWhitelist)
		b.AutoAcceptWhitelist = &wl
	}
	b.AutoAcceptBlacklist = []id.UserID{}
	if !failed["auto_accept_blacklist"] {
		b.AutoAcceptBlacklist = l.userIDs(at("auto_accept_blacklist"), j.AutoAcceptBlacklist)
	}

	// later features: only check what is certainly wrong
	for _, u := range []struct{ key, val string }{
		{"oauth_server_url", j.OAuthServerURL},
		{"oauth_metadata_url", j.OAuthMetadataURL},
	} {
		if u.val != "" {
			if _, err := checkURL(u.val, "http", "https"); err != nil {
				l.problems.wrap(at(u.key), err, "%v; set an http(s) URL, or remove it", err)
			}
		}
	}
	d, err := secondsToDuration(j.OAuthCallbackTimeout)
	switch {
	case err != nil || d <= 0:
		l.problems.add(at("oauth_callback_timeout"), "must be a number of seconds greater than 0; set e.g. 300")
	default:
		b.OAuthCallbackTimeout = d
	}
	switch {
	case j.RecoveryCode != "" && j.RecoveryKey != "" && j.RecoveryCode != j.RecoveryKey:
		l.problems.add(at("recovery_key"), "differs from recovery_code (recovery_key is an alias); set only one of them")
	case j.RecoveryCode != "":
		b.RecoveryCode = j.RecoveryCode
	case j.RecoveryKey != "":
		b.RecoveryCode = j.RecoveryKey
	default:
		b.RecoveryCode = cfg.RecoveryCode
	}
	if !slices.Contains(SharingStrategies, b.EncryptionSharingStrategy) {
		l.problems.add(at("encryption_sharing_strategy"), "invalid value %q; set one of %s", b.EncryptionSharingStrategy, strings.Join(SharingStrategies, ", "))
	}
	if !slices.Contains(BackupDownloadStrategies, b.BackupDownloadStrategy) {
		l.problems.add(at("backup_download_strategy"), "invalid value %q; set \"\" (the whole backup at start, then single keys when needed), one_shot, after_decryption_failure or manual", b.BackupDownloadStrategy)
	}

	// OneBot
	if j.OneBotSelfID != nil {
		if *j.OneBotSelfID <= 0 {
			l.problems.add(at("onebot_self_id"), "must be a whole number greater than 0; set e.g. 10001, or remove it to let the gateway assign one")
		} else {
			b.OneBotSelfID = *j.OneBotSelfID
		}
	}
	if !failed["onebot_v11_reverse_ws"] {
		b.OneBotV11ReverseWS = l.problems.wsList(at("onebot_v11_reverse_ws"), slices0(j.OneBotV11ReverseWS))
	}
	if !failed["onebot_v12_reverse_ws"] {
		b.OneBotV12ReverseWS = l.problems.wsList(at("onebot_v12_reverse_ws"), slices0(j.OneBotV12ReverseWS))
	}
	switch j.OneBotMsgType {
	case "", "m.text", "m.notice", "m.emote":
		b.OneBotMsgType = j.OneBotMsgType
	default:
		l.problems.add(at("onebot_msgtype"), "invalid value %q; set m.text, m.notice or m.emote", j.OneBotMsgType)
	}
	b.OneBotMarkdown = j.OneBotMarkdown
	b.OneBotAccessToken = l.botToken(at("onebot_access_token"), j.OneBotAccessToken, failed["onebot_access_token"], "a token for this bot's OneBot clients")
	b.OneBotPushToken = l.botToken(at("onebot_push_access_token"), j.OneBotPushToken, failed["onebot_push_access_token"], "the token this bot's reverse WebSockets are sent")
	return b
}

// botToken checks an optional token key of a bot: present means a usable token.
func (l *botsLoader) botToken(key string, t *string, failed bool, what string) string {
	switch {
	case t == nil || failed:
		return ""
	case strings.TrimSpace(*t) == "":
		l.problems.add(key, "is empty; set %s, or remove the key", what)
	case strings.TrimSpace(*t) != *t:
		l.problems.add(key, "has spaces or line breaks around it, which clients do not send; remove them")
	default:
		return *t
	}
	return ""
}

// userIDs checks a list of Matrix user IDs; it never returns nil.
func (l *botsLoader) userIDs(key string, list []string) []id.UserID {
	out := make([]id.UserID, 0, len(list))
	for k, s := range list {
		if !validUserID(s) {
			l.problems.add(fmt.Sprintf("%s[%d]", key, k), "%q is not a Matrix user ID; set it like \"@alice:example.org\"", s)
		}
		out = append(out, id.UserID(s))
	}
	return out
}

// duplicates reports user IDs, OneBot self IDs and OneBot access tokens used by more than one
// bot (a shared token would grant both bots), and a bot token equal to GATEWAY_ACCESS_TOKEN.
func (l *botsLoader) duplicates(bots []Bot, global string) {
	users := make(map[id.UserID]int)
	selfIDs := make(map[int64]int)
	tokens := make(map[string]int)
	for _, b := range bots {
		if t := b.OneBotAccessToken; t != "" {
			at := fmt.Sprintf("MATRIX_BOTS[%d].onebot_access_token", b.Index)
			if first, dup := tokens[t]; dup {
				l.problems.add(at, "is also the onebot_access_token of MATRIX_BOTS[%d]; give each bot its own token", first)
			} else if t == global {
				l.problems.add(at, "equals GATEWAY_ACCESS_TOKEN, which grants every bot; set a different token")
			} else {
				tokens[t] = b.Index
			}
		}
		if b.UserID != "" {
			if first, dup := users[b.UserID]; dup {
				l.problems.add(fmt.Sprintf("MATRIX_BOTS[%d].user_id", b.Index),
					"%q is also the user_id of MATRIX_BOTS[%d]; each bot must be a different account", b.UserID, first)
			} else {
				users[b.UserID] = b.Index
			}
		}
		if b.OneBotSelfID != 0 {
			if first, dup := selfIDs[b.OneBotSelfID]; dup {
				l.problems.add(fmt.Sprintf("MATRIX_BOTS[%d].onebot_self_id", b.Index),
					"%d is also the onebot_self_id of MATRIX_BOTS[%d]; set a different number, or remove it to let the gateway assign one",
					b.OneBotSelfID, first)
			} else {
				selfIDs[b.OneBotSelfID] = b.Index
			}
		}
	}
}

// pushTokens reports push tokens that are also API tokens granting more than the bot whose
// endpoints are handed them: a bot's onebot_push_access_token that is another bot's
// onebot_access_token or (with several bots) GATEWAY_ACCESS_TOKEN, and a GATEWAY_PUSH_ACCESS_TOKEN
// (handed to every bot's endpoints) that is one bot's onebot_access_token. The endpoint could
// then act as the other bots. The same token both ways for one bot, or for the only bot, is fine.
func (l *botsLoader) pushTokens(bots []Bot, global, globalPush string) {
	apiTokens := make(map[string]int) // onebot_access_token → MATRIX_BOTS index
	for _, b := range bots {
		if b.OneBotAccessToken != "" {
			if _, dup := apiTokens[b.OneBotAccessToken]; !dup {
				apiTokens[b.OneBotAccessToken] = b.Index
			}
		}
	}
	several := len(bots) > 1
	for _, b := range bots {
		t := b.OneBotPushToken
		if t == "" {
			continue
		}
		at := fmt.Sprintf("MATRIX_BOTS[%d].onebot_push_access_token", b.Index)
		if other, ok := apiTokens[t]; ok && other != b.Index {
			l.problems.add(at, "is the onebot_access_token of MATRIX_BOTS[%d]: this bot's reverse WebSockets would be handed "+
				"that bot's API token; set a different token", other)
		} else if several && t == global {
			l.problems.add(at, "equals GATEWAY_ACCESS_TOKEN, which grants every bot: this bot's reverse WebSockets would be "+
				"handed it; set a different token (or this bot's own onebot_access_token)")
		}
	}
	if other, ok := apiTokens[globalPush]; ok && globalPush != "" && several {
		l.problems.add("GATEWAY_PUSH_ACCESS_TOKEN", "is the onebot_access_token of MATRIX_BOTS[%d]: every push endpoint "+
			"would be handed that bot's API token; set a different token", other)
	}
}

// suggest returns ` (did you mean "x"?)` for the known key closest to an
// unknown one, or "" if none is close.
func suggest(unknown string) string {
	best, bestDist := "", 4
	lower := strings.ToLower(unknown)
	for _, k := range BotKeys() {
		if d := levenshtein(lower, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// kindOf returns the JSON kind of a raw value.
func kindOf(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonKind phrases a JSON kind ("string", "number 1.5", …) for messages.
func jsonKind(kind string) string {
	switch {
	case kind == "":
		return "nothing"
	case kind == "null":
		return "null"
	case kind == "array":
		return "a list"
	case kind == "bool":
		return "a boolean"
	case kind == "object":
		return "an object"
	case strings.HasPrefix(kind, "number"):
		return "a number"
	}
	return "a " + kind
}

// describeType says what JSON a botJSON field accepts.
func describeType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of strings"
	}
	return "valid JSON"
}

// slices0 returns a copy of list, so wsList may rewrite entries in place.
func slices0(list []string) []string {
	return append([]string(nil), list...)
}

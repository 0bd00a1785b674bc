// Command demo is the quickstart behind `make demo`: a throwaway local Synapse,
// a bot account and a person (alice) in a shared room, and the gateway serving
// that bot over OneBot, all on 127.0.0.1:
//
//	make demo [DEMO_FLAGS="-fresh -port 8009 -listen 127.0.0.1:5701"]
//	go run -tags goolm ./test/harness/cmd/demo [-fresh] [flags]
//
// Synapse listens on 127.0.0.1:8008 (-port) and the gateway on 127.0.0.1:5700
// (-listen, default GATEWAY_LISTEN when set); a port that is taken is replaced
// by a free one, and the demo says which. Everything lives in <repo>/.cache/demo
// (Synapse's data, the gateway's SQLite database and log, state.json with the
// room) and is reused by the next run; -fresh wipes it first. GATEWAY_* and
// MATRIX_* variables in the environment are passed on to the gateway, e.g.
//
//	GATEWAY_V12_REVERSE_WS=ws://127.0.0.1:8080/onebot/v12/ws make demo
//
// attaches a NoneBot2 app. The demo runs until Ctrl-C or SIGTERM.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
)

const (
	botName   = "demobot"
	aliceName = "alice"
	roomName  = "Gateway demo"
	greeting  = "hello from alice — the gateway is running"
	waitLimit = 60 * time.Second
)

type options struct {
	fresh                     bool
	botPassword, alicePass    string
	token, listen             string
	synapsePort               int
	root, dir, gatewayLogPath string
}

// demoState is .cache/demo/state.json.
type demoState struct {
	RoomID id.RoomID `json:"room_id"`
}

func main() {
	if err := run(); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "demo: interrupted before the demo was up:", err)
		} else {
			fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		}
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

// Defaults of the demo's ports and token (the README's quickstart names them).
const (
	defaultSynapsePort = 8008
	defaultListen      = "127.0.0.1:5700"
	defaultToken       = "demo-token"
)

// parseFlags reads the flags; GATEWAY_LISTEN and GATEWAY_ACCESS_TOKEN from the environment are
// the defaults of -listen and -token, so that `GATEWAY_LISTEN=… make demo` does what it says.
func parseFlags(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen, token := defaultListen, defaultToken
	if v := getenv("GATEWAY_LISTEN"); v != "" {
		listen = v
	}
	if v := getenv("GATEWAY_ACCESS_TOKEN"); v != "" {
		token = v
	}
	fs.BoolVar(&o.fresh, "fresh", false, "wipe .cache/demo first (new homeserver, users, room and gateway database)")
	fs.StringVar(&o.botPassword, "bot-password", "demobot-password", "password of the bot account @"+botName)
	fs.StringVar(&o.alicePass, "alice-password", "alice-password", "password of the person @"+aliceName)
	fs.StringVar(&o.token, "token", token, "GATEWAY_ACCESS_TOKEN that OneBot clients must present (default: GATEWAY_ACCESS_TOKEN when set)")
	fs.IntVar(&o.synapsePort, "port", defaultSynapsePort, "Synapse's port on 127.0.0.1 (another free port if taken)")
	fs.StringVar(&o.listen, "listen", listen, "the gateway's address, GATEWAY_LISTEN (default: GATEWAY_LISTEN when set; another free port if taken)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: the demo takes only flags (make demo DEMO_FLAGS=\"-fresh -port 8009\")", fs.Args())
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return nil, fmt.Errorf("bad -listen (or GATEWAY_LISTEN) %q: want host:port, e.g. 127.0.0.1:5700", o.listen)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, err
	}
	o.root, o.dir = root, filepath.Join(root, ".cache", "demo")
	o.gatewayLogPath = filepath.Join(o.dir, "gateway.log")
	return o, nil
}

func run() error {
	o, err := parseFlags(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.fresh {
		say("-fresh: removing %s", o.dir)
		if err := os.RemoveAll(o.dir); err != nil {
			return fmt.Errorf("failed to remove %s: %w", o.dir, err)
		}
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", o.dir, err)
	}

	hs, err := startSynapse(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping Synapse")
		hs.Stop()
		say("stopped; the users, the room and the gateway's database stay in %s for the next run", o.dir)
	}()

	// The devices of this run's logins are removed at exit (after the gateway stopped).
	bot, err := ensureUser(ctx, hs, botName, o.botPassword, "-bot-password")
	if err != nil {
		return err
	}
	defer logout(hs, bot)
	alice, err := ensureUser(ctx, hs, aliceName, o.alicePass, "-alice-password")
	if err != nil {
		return err
	}
	defer logout(hs, alice)
	aliceCli, err := hs.Client(alice)
	if err != nil {
		return err
	}

	room, err := ensureRoom(ctx, aliceCli, filepath.Join(o.dir, "state.json"), id.UserID(bot.UserID))
	if err != nil {
		return err
	}

	gw, gwLog, err := startGateway(ctx, o, hs, bot, alice)
	if err != nil {
		return err
	}
	defer func() {
		say("stopping the gateway (SIGTERM)")
		if err := gw.Stop(); err != nil {
			say("the gateway did not stop cleanly: %v", err)
		}
		gwLog.stop()
	}()
	if err := waitJoined(ctx, aliceCli, room, id.UserID(bot.UserID), gw); err != nil {
		return err
	}
	seen, closeWatch, err := watchEvents(ctx, o)
	if err != nil {
		return err
	}
	defer closeWatch()

	gwLog.copy() // the gateway's start-up lines before the block, not in it
	printHowTo(o, hs, alice, room)
	if err := greet(ctx, aliceCli, room, seen); err != nil {
		return err
	}

	select {
	case <-ctx.Done():
		fmt.Println()
		say("interrupted, shutting down")
		return nil
	case <-gw.Done():
		return fmt.Errorf("the gateway exited unexpectedly; see %s", o.gatewayLogPath)
	case <-hs.Done():
		return fmt.Errorf("Synapse exited unexpectedly; last lines of %s:\n%s", hs.LogPath(), hs.LogTail(30))
	}
}

// startSynapse starts the homeserver in .cache/demo/synapse on the wanted port, or a free one.
func startSynapse(ctx context.Context, o *options) (*harness.Homeserver, error) {
	port, err := pickPort("127.0.0.1", o.synapsePort, "Synapse")
	if err != nil {
		return nil, err
	}
	say("starting Synapse on 127.0.0.1:%d (the first run installs Synapse into .cache/venv-synapse, which takes a minute or two)…", port)
	sctx, cancel := context.WithTimeout(ctx, harness.StartTimeout)
	defer cancel()
	hs, err := harness.StartSynapse(sctx, harness.SynapseOptions{Dir: filepath.Join(o.dir, "synapse"), Port: port})
	if err != nil {
		return nil, fmt.Errorf("failed to start Synapse: %w", err)
	}
	say("Synapse is up at %s (log: %s)", hs.URL(), hs.LogPath())
	return hs, nil
}

// ensureUser registers the user, or logs in if the account exists (a reused homeserver).
func ensureUser(ctx context.Context, hs *harness.Homeserver, localpart, password, passwordFlag string) (*harness.User, error) {
	u, err := hs.EnsureUser(ctx, localpart, password, false)
	if err != nil {
		return nil, fmt.Errorf("failed to register or log in %s (a wrong %s for an existing account? -fresh starts over): %w", localpart, passwordFlag, err)
	}
	say("user ready: %s", u.UserID)
	return u, nil
}

// logout removes the device of u's login in this run.
func logout(hs *harness.Homeserver, u *harness.User) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cli, err := hs.Client(u); err == nil {
		_, _ = cli.Logout(ctx)
	}
}

// ensureRoom reuses the room remembered in state.json if alice is still in it, or creates
// one; either way the bot ends up joined or invited.
func ensureRoom(ctx context.Context, alice *mautrix.Client, statePath string, bot id.UserID) (id.RoomID, error) {
	var st demoState
	if b, err := os.ReadFile(statePath); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	if st.RoomID != "" && membership(ctx, alice, st.RoomID, alice.UserID) == event.MembershipJoin {
		say("reusing the room %q %s", roomName, st.RoomID)
	} else {
		resp, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Name: roomName, Preset: "private_chat", Invite: []id.UserID{bot}})
		if err != nil {
			return "", fmt.Errorf("failed to create the room as alice: %w", err)
		}
		st.RoomID = resp.RoomID
		b, _ := json.MarshalIndent(st, "", "  ")
		if err := os.WriteFile(statePath, append(b, '\n'), 0o644); err != nil {
			return "", fmt.Errorf("failed to write %s: %w", statePath, err)
		}
		say("alice created the room %q %s and invited the bot", roomName, st.RoomID)
		return st.RoomID, nil
	}
	switch membership(ctx, alice, st.RoomID, bot) {
	case event.MembershipJoin, event.MembershipInvite:
	default:
		if _, err := alice.InviteUser(ctx, st.RoomID, &mautrix.ReqInviteUser{UserID: bot}); err != nil {
			return "", fmt.Errorf("failed to invite the bot into %s: %w", st.RoomID, err)
		}
		say("alice invited the bot again")
	}
	return st.RoomID, nil
}

// membership returns user's membership in room as alice sees it ("" if unknown).
func membership(ctx context.Context, cli *mautrix.Client, room id.RoomID, user id.UserID) event.Membership {
	var m event.MemberEventContent
	if err := cli.StateEvent(ctx, room, event.StateMember, string(user), &m); err != nil {
		return ""
	}
	return m.Membership
}

// startGateway builds the gateway, starts it with its log in .cache/demo/gateway.log (copied
// to stdout), and waits until /readyz says the bot syncs.
func startGateway(ctx context.Context, o *options, hs *harness.Homeserver, bot, alice *harness.User) (gw *harness.Process, gwLog *tail, err error) {
	bin := filepath.Join(o.dir, "gateway")
	say("building the gateway: go build -tags goolm -o %s ./cmd/gateway", bin)
	if err := harness.BuildGateway(ctx, bin); err != nil {
		return nil, nil, err
	}
	host, portStr, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, nil, fmt.Errorf("bad -listen %q: %w", o.listen, err)
	}
	wanted, _ := strconv.Atoi(portStr)
	port, err := pickPort(host, wanted, "the gateway")
	if err != nil {
		return nil, nil, err
	}
	o.listen = net.JoinHostPort(host, strconv.Itoa(port))
	env, err := gatewayEnv(o, hs, bot, alice)
	if err != nil {
		return nil, nil, err
	}
	from := fileSize(o.gatewayLogPath)
	gw, err = harness.StartProcess(harness.ProcessOptions{Name: "gateway", Path: bin, Dir: o.dir, Env: env, LogPath: o.gatewayLogPath})
	if err != nil {
		return nil, nil, err
	}
	gwLog = startTail(o.gatewayLogPath, from, "gateway | ")
	say("gateway started (pid %d, log: %s); waiting for GET /readyz", gw.PID(), o.gatewayLogPath)
	rctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if err := gw.WaitReady(rctx, harness.ReadyzCheck("http://"+o.listen)); err != nil {
		_ = gw.Stop()
		gwLog.stop()
		return nil, nil, fmt.Errorf("the gateway did not become ready: %w", err)
	}
	return gw, gwLog, nil
}

// gatewayEnv is the gateway's environment: the caller's GATEWAY_* and MATRIX_* variables,
// then the demo's own settings (which win over the caller's for the bot, listener, database
// and token).
func gatewayEnv(o *options, hs *harness.Homeserver, bot, alice *harness.User) ([]string, error) {
	bots, err := json.Marshal([]map[string]any{{
		"homeserver": hs.URL(), "access_token": bot.AccessToken, "user_id": bot.UserID, "device_id": bot.DeviceID,
		"auto_accept_invites": true, "auto_accept_whitelist": []string{alice.UserID},
	}})
	if err != nil {
		return nil, err
	}
	own := map[string]string{
		"MATRIX_BOTS":          string(bots),
		"GATEWAY_LISTEN":       o.listen,
		"GATEWAY_DATABASE":     filepath.Join(o.dir, "gateway.db"),
		"GATEWAY_ACCESS_TOKEN": o.token,
		// The same token on the reverse WebSocket, so that NoneBot2 with one
		// ONEBOT_V1x_ACCESS_TOKEN accepts it (the gateway never sends its API token there).
		"GATEWAY_PUSH_ACCESS_TOKEN": o.token,
	}
	defaults := map[string]string{"GATEWAY_DROP_EVENTS_WITHOUT_CLIENT": "true"}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(key, "GATEWAY_") && !strings.HasPrefix(key, "MATRIX_") {
			continue
		}
		if key == "GATEWAY_LISTEN" || key == "GATEWAY_ACCESS_TOKEN" {
			continue // the defaults of -listen and -token (parseFlags)
		}
		if _, ok := own[strings.TrimSuffix(key, "_FILE")]; ok {
			say("ignoring %s from your environment: the demo sets it (see -h for flags)", key)
			continue
		}
		say("passing %s from your environment to the gateway", key)
		delete(defaults, key)
		env = append(env, kv)
	}
	for _, m := range []map[string]string{defaults, own} {
		for k, v := range m {
			env = append(env, k+"="+v)
		}
	}
	return env, nil
}

// waitJoined waits until alice sees the bot joined (the gateway auto-accepts her invite).
func waitJoined(ctx context.Context, alice *mautrix.Client, room id.RoomID, bot id.UserID, gw *harness.Process) error {
	say("waiting until alice sees the bot in the room (it accepts her invite by auto-accept)…")
	deadline := time.After(waitLimit)
	for membership(ctx, alice, room, bot) != event.MembershipJoin {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-gw.Done():
			return errors.New("the gateway exited while waiting for the bot to join")
		case <-deadline:
			return fmt.Errorf("the bot did not join %s within %v (is auto-accept working? see the gateway log)", room, waitLimit)
		case <-time.After(250 * time.Millisecond):
		}
	}
	say("the bot %s is in the room", bot)
	return nil
}

// watchEvents connects a OneBot v12 WebSocket client to the gateway and prints every
// non-meta event it receives; message IDs are sent on the returned channel.
func watchEvents(ctx context.Context, o *options) (<-chan string, func(), error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws://"+o.listen+"/onebot/v12/",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + o.token}}})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to connect a OneBot v12 WebSocket client to the gateway: %w", err)
	}
	conn.SetReadLimit(1 << 24)
	seen := make(chan string, 16)
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var ev map[string]any
			if json.Unmarshal(data, &ev) != nil || ev["type"] == "meta" || ev["type"] == nil {
				continue
			}
			if ev["type"] == "message" {
				say("OneBot v12 event: message.%v from %v in %v: %q", ev["detail_type"], ev["user_id"], ev["group_id"], ev["alt_message"])
				select {
				case seen <- fmt.Sprint(ev["message_id"]):
				default:
				}
			} else {
				say("OneBot v12 event: %s", data)
			}
		}
	}()
	return seen, func() { _ = conn.Close(websocket.StatusNormalClosure, "demo stopping") }, nil
}

// greet sends alice's greeting and waits until it arrives as a OneBot event.
func greet(ctx context.Context, alice *mautrix.Client, room id.RoomID, seen <-chan string) error {
	resp, err := alice.SendText(ctx, room, greeting)
	if err != nil {
		return fmt.Errorf("failed to send alice's greeting: %w", err)
	}
	say("alice said %q (%s)", greeting, resp.EventID)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-seen:
			if got == string(resp.EventID) {
				say("the gateway relayed it to OneBot. Press Ctrl-C to stop.")
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return errors.New("alice's greeting did not arrive as a OneBot event within 30s; see the gateway log")
		}
	}
}

func printHowTo(o *options, hs *harness.Homeserver, alice *harness.User, room id.RoomID) {
	base := "http://" + o.listen
	auth := shellQuote("Authorization: Bearer " + o.token)
	send, _ := json.Marshal(map[string]any{"action": "send_message", "params": map[string]any{
		"detail_type": "group", "group_id": room,
		"message": []any{map[string]any{"type": "text", "data": map[string]string{"text": "hello from OneBot"}}},
	}})
	rel := func(p string) string { r, _ := filepath.Rel(o.root, p); return r }
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("\n================================ how to talk to it ================================")
	line("Matrix: point Element (or any Matrix client) at the homeserver and log in as alice")
	line("  homeserver URL:  %s", hs.URL())
	line("  user:            %s", alice.UserID)
	line("  password:        %s", o.alicePass)
	line("  room:            %s  (%q, with the bot)", room, roomName)
	line("")
	line("OneBot (access token %q: header 'Authorization: Bearer %s' or ?access_token=%s)", o.token, o.token, o.token)
	line("  v12 HTTP:        POST %s/onebot/v12/", base)
	line("  v12 WebSocket:   ws://%s/onebot/v12/", o.listen)
	line("  v11 HTTP:        %s/onebot/v11/{action}", base)
	line("  v11 WebSocket:   ws://%s/onebot/v11/", o.listen)
	line("")
	line("Send a message to the room as the bot (OneBot v12):")
	line("  curl -s -w '\\n' -H %s -H 'Content-Type: application/json' -d %s %s/onebot/v12/", auth, shellQuote(string(send)), base)
	line("")
	line("Ask the gateway who the bot is (OneBot v11):")
	line("  curl -s -w '\\n' -H %s %s/onebot/v11/get_login_info", auth, base)
	line("")
	line("Attach NoneBot2 (adapter OneBot V12, listening on 127.0.0.1:8080, ONEBOT_V12_ACCESS_TOKEN=%s, the demo's GATEWAY_PUSH_ACCESS_TOKEN):", o.token)
	line("  stop the demo (Ctrl-C), then run:  GATEWAY_V12_REVERSE_WS=ws://127.0.0.1:8080/onebot/v12/ws make demo")
	line("  (OneBot V11 adapter: GATEWAY_V11_REVERSE_WS=ws://127.0.0.1:8080/onebot/v11/ws, ONEBOT_V11_ACCESS_TOKEN=%s)", o.token)
	line("")
	line("Logs: gateway %s, Synapse %s. Ctrl-C stops everything; data stays in %s (-fresh wipes it).", rel(o.gatewayLogPath), rel(hs.LogPath()), rel(o.dir))
	line("===================================================================================\n")
	fmt.Print(b.String())
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// pickPort returns port if it is free on host, else (or for 0) a free one.
func pickPort(host string, port int, who string) (int, error) {
	if port != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port for %s: %w", who, err)
	}
	defer l.Close()
	free := l.Addr().(*net.TCPAddr).Port
	if port != 0 {
		say("port %d is taken; %s uses %d instead", port, who, free)
	}
	return free, nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// tail copies the lines appended to a log file to stdout, each with a prefix.
type tail struct {
	mu           sync.Mutex
	path, prefix string
	offset       int64
	pending      []byte
	quit, done   chan struct{}
	stopOnce     sync.Once
}

// startTail copies what is appended after offset, every 100 ms, until stop.
func startTail(path string, offset int64, prefix string) *tail {
	t := &tail{path: path, prefix: prefix, offset: offset, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		for {
			t.copy()
			select {
			case <-t.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return t
}

// copy prints the complete lines appended since the last call.
func (t *tail) copy() {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	for n, _ := f.Read(buf); n > 0; n, _ = f.Read(buf) {
		t.offset += int64(n)
		t.pending = append(t.pending, buf[:n]...)
	}
	for i := bytes.IndexByte(t.pending, '\n'); i >= 0; i = bytes.IndexByte(t.pending, '\n') {
		fmt.Print(t.prefix + string(t.pending[:i+1]))
		t.pending = t.pending[i+1:]
	}
}

// stop ends the copying after a last copy.
func (t *tail) stop() {
	t.stopOnce.Do(func() { close(t.quit) })
	<-t.done
	t.copy()
}

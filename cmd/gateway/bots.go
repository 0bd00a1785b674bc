package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/fleet"
	"github.com/matrix-onebot/gateway/internal/gateway"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/matrix"
	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// botSet runs the configured bots: each logs in, joins the hub and syncs until it is removed or
// the gateway stops. Bots can be added, removed and changed while it runs (apply: SIGHUP; the
// admin page), and the admin page restarts them and logs them in (admin.go).
type botSet struct {
	// cfg is the configuration at start: its shared MATRIX_* and GATEWAY_* options apply to
	// every bot, also to one added later.
	cfg        *config.Config
	db         *storage.DB
	stateStore *sqlstatestore.SQLStateStore
	pickleKey  []byte
	files      *media.Store
	tokens     auth.Store
	callbacks  *auth.CallbackMux
	mets       *metrics.Metrics
	hub        *gateway.Hub
	transports *fleet.Transports
	gate       *fleet.Gate
	log        *slog.Logger

	botsCtx  context.Context // the bots' syncs end with it (first, at a stop)
	serveCtx context.Context // their push connections end with it (after the bots' final status)
	loops    sync.WaitGroup  // every bot's login and sync

	environ []string // the process environment, for reloads
	// cluster: several gateways share the bots (GATEWAY_CLUSTER); only the owned ones run here.
	cluster bool

	edits sync.Mutex // one change of the bot list at a time (apply, addBot, removeBot)
	mu    sync.Mutex
	bots  []*botRun // in configuration order; the admin page's index is the place here
	// configured are the bots of the configuration (the last reload's); owned are the user IDs
	// of those the cluster gave this gateway (with cluster only).
	configured []config.Bot
	owned      map[string]bool
}

// wanted are the bots that should run here: the configured ones, or with a cluster those of
// them this gateway owns.
func (bs *botSet) wanted() []config.Bot {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if !bs.cluster {
		return append([]config.Bot(nil), bs.configured...)
	}
	var out []config.Bot
	for _, b := range bs.configured {
		if bs.owned[string(b.UserID)] {
			out = append(out, b)
		}
	}
	return out
}

// configuredUsers are the user IDs of the configured bots (the cluster's candidates).
func (bs *botSet) configuredUsers() []string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	var out []string
	for _, b := range bs.configured {
		if b.UserID != "" {
			out = append(out, string(b.UserID))
		}
	}
	return out
}

// tokenBot returns the configured bot whose own onebot_access_token token is, or "" (every
// configured token is compared, in constant time: cluster.Proxy.TokenBot).
func (bs *botSet) tokenBot(token string) string {
	p := web.Present(token)
	bs.mu.Lock()
	defer bs.mu.Unlock()
	found := ""
	for _, b := range bs.configured {
		if p.Matches(b.OneBotAccessToken) && found == "" {
			found = string(b.UserID)
		}
	}
	return found
}

// syncing tells whether the running bot with user ID u has finished starting (it syncs).
func (bs *botSet) syncing(u string) bool {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, r := range bs.bots {
		if string(r.bot.UserID) == u {
			return r.s.Status().State == model.StateSyncing
		}
	}
	return true // not running: nothing to interrupt
}

// setOwned runs the bots the cluster gives this gateway now, and stops the others before it
// returns (cluster.Options.Run).
func (bs *botSet) setOwned(owned map[string]bool) {
	bs.mu.Lock()
	bs.owned = owned
	bs.mu.Unlock()
	added, removed, changed, err := bs.apply(bs.wanted(), "it runs on another gateway now")
	if err != nil {
		bs.log.Error("cluster: a bot given to this gateway cannot be set up", "error", err)
		return
	}
	if len(added)+len(removed)+len(changed) > 0 {
		bs.log.Info("cluster: the bots of this gateway changed", "started", added, "stopped", removed, "restarted", changed, "running", len(owned))
	}
}

// botRun is one running bot.
type botRun struct {
	bot config.Bot
	s   *matrix.Session

	stop       context.CancelFunc // ends the bot's sync
	stopPushes context.CancelFunc // ends its reverse WebSockets and webhooks
	done       chan struct{}      // closed when its sync has ended
	pushes     gateway.Started    // its reverse WebSockets and webhooks

	pushStarted bool // its push connections have started (read and written by its loop only)

	restart   chan struct{}      // cap 1: run the bot again (admin page)
	runCancel context.CancelFunc // of its current run; nil between runs (guarded by botSet.mu)
}

// botKey names a bot across configurations: a bot is the same bot when its homeserver and
// user_id, else its login_user, else its place in MATRIX_BOTS, are the same.
func botKey(b config.Bot) string {
	hs := strings.ToLower(strings.TrimRight(b.Homeserver, "/"))
	switch {
	case b.UserID != "":
		return hs + " " + string(b.UserID)
	case b.LoginUser != "":
		return hs + " login:" + b.LoginUser
	}
	return fmt.Sprintf("%s #%d", hs, b.Index)
}

// sameBot reports whether two configurations of one bot are the same, apart from its place in
// the list.
func sameBot(a, b config.Bot) bool {
	a.Index, b.Index = 0, 0
	return reflect.DeepEqual(a, b)
}

// newSession prepares bot b's session.
func (bs *botSet) newSession(b config.Bot) (*matrix.Session, error) {
	cfg := bs.cfg
	return matrix.New(matrix.Options{
		PickleKey: bs.pickleKey, UndecryptableWait: cfg.Gateway.UndecryptableWait, EncryptReactions: cfg.Gateway.EncryptReactions,
		PlaintextInEncryptedRooms: cfg.Gateway.PlaintextInEncryptedRooms,
		Bot:                       b, APITimeout: cfg.APITimeout, SyncTimeout: cfg.SyncTimeout, RetryInterval: cfg.RetryInterval,
		HandleSelfMessage: cfg.HandleSelfMessage, HandleOldEvents: cfg.HandleOldEvents, Proxy: cfg.Proxy,
		TypingEvents: cfg.Gateway.TypingEvents, ReceiptEvents: cfg.Gateway.ReceiptEvents,
		DB: bs.db, StateStore: bs.stateStore, Sink: bs.hub, Logger: bs.log.With("component", "matrix"), Media: bs.files,
		TokenStore: bs.tokens, OAuthCallbacks: bs.callbacks, Metrics: bs.mets,
		Transport: bs.transports.For(b.Homeserver), StartGate: bs.gate,
	})
}

// prepare makes the session of every bot of bots, or fails on the first that cannot be set up.
func (bs *botSet) prepare(bots []config.Bot) ([]*botRun, error) {
	runs := make([]*botRun, len(bots))
	for i, b := range bots {
		s, err := bs.newSession(b)
		if err != nil {
			return nil, fmt.Errorf("failed to set up bot %s: %w", b.Name(), err)
		}
		runs[i] = &botRun{bot: b, s: s, restart: make(chan struct{}, 1), done: make(chan struct{})}
	}
	return runs, nil
}

// expect tells the hub of the bots before they start: until one joins the hub, /readyz shows
// its state and reason.
func (bs *botSet) expect(runs []*botRun) {
	for _, r := range runs {
		bs.hub.Expect(r.s.Bot())
	}
}

// startAll starts the bots at the gateway's start: every onebot_self_id of a bot whose user ID
// is known is pinned before any bot takes a number.
func (bs *botSet) startAll(runs []*botRun) {
	for _, r := range runs {
		if r.bot.OneBotSelfID != 0 && r.s.UserID() != "" {
			_ = pinSelfID(bs.botsCtx, r.s, r.bot, bs.db, bs.log)
		}
	}
	bs.mu.Lock()
	bs.bots = append(bs.bots, runs...)
	bs.mu.Unlock()
	for _, r := range runs {
		bs.launch(r)
	}
}

// launch runs r until it is stopped or the gateway stops.
func (bs *botSet) launch(r *botRun) {
	ctx, stop := context.WithCancel(bs.botsCtx)
	pushCtx, stopPushes := context.WithCancel(bs.serveCtx)
	r.stop, r.stopPushes = stop, stopPushes
	bs.loops.Add(1)
	go func() {
		defer bs.loops.Done()
		defer close(r.done)
		bs.loop(ctx, r, func(ctx context.Context) { bs.runOnce(ctx, pushCtx, r) })
	}()
}

// loop runs r with run until ctx ends, again each time Reconnect asks: run's context ends at a
// reconnect.
func (bs *botSet) loop(ctx context.Context, r *botRun, run func(ctx context.Context)) {
	for {
		runCtx, cancel := context.WithCancel(ctx)
		bs.mu.Lock()
		r.runCancel = cancel
		bs.mu.Unlock()
		run(runCtx)
		bs.mu.Lock()
		r.runCancel = nil
		bs.mu.Unlock()
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-r.restart:
			bs.log.Info("bot restarted from the admin page", "bot", r.bot.Name())
		}
	}
}

// runOnce is one run of a bot: a bot whose user ID is known (configured, or from the token
// store) joins the hub at once, so that clients see it offline while it cannot log in;
// otherwise it logs in first to learn its user ID (meanwhile /readyz shows it with hub.Expect).
// Its push connections start at its first run, not at each restart.
func (bs *botSet) runOnce(ctx, pushCtx context.Context, r *botRun) {
	s, b, log := r.s, r.bot, bs.log
	if s.UserID() == "" {
		if err := gatedLogin(ctx, bs.gate, s); err != nil {
			if ctx.Err() == nil {
				log.Error("bot cannot start: the operator must act", "bot", b.Name(), "error", err)
			}
			return
		}
	}
	selfID, ok := botSelfID(ctx, s, b, bs.db, log)
	if !ok {
		return
	}
	bs.hub.AddBotWithToken(s.Bot(), selfID, b.OneBotAccessToken)
	log.Info("bot registered", "bot", s.UserID(), "v11_self_id", selfID)
	if !r.pushStarted { // only this bot's loop reads and writes it
		r.pushStarted = true
		bs.startPushes(pushCtx, r, selfID)
	}
	_ = s.Serve(ctx) // retries all but ErrFatal; the status and the log say why
}

// startPushes dials the bot's reverse WebSockets and posts its webhooks until pushCtx ends (the
// gateway stops, or the bot is removed); the hub runs them with its other transports.
func (bs *botSet) startPushes(pushCtx context.Context, r *botRun, selfID int64) {
	bs.hub.StartUntil(pushCtx, &r.pushes, botEndpoints(bs.cfg, r.bot, r.s.UserID(), selfID)...)
}

// remove stops r and takes it out of the hub: its sync ends (the batch under way is finished and
// its position saved), its OneBot WebSockets close with the reason, its push connections stop,
// and its metrics go. It waits for each until deadline.
func (bs *botSet) remove(r *botRun, why string, deadline time.Time) {
	r.stop()
	if !await.Closed(r.done, deadline) {
		bs.log.Warn("a removed bot's sync did not stop before the deadline", "bot", r.bot.Name())
	}
	bs.hub.RemoveBot(r.s.Bot(), why)
	r.stopPushes()
	if !r.pushes.Wait(deadline) {
		bs.log.Warn("a removed bot's reverse WebSockets and webhooks did not stop before the deadline", "bot", r.bot.Name())
	}
	r.s.Close()
}

// apply makes the running bots those of next: a bot not in next is removed, a new one starts,
// and one whose configuration changed starts again with the new one. It returns the names of the
// bots it added, removed and restarted.
func (bs *botSet) apply(next []config.Bot, gone string) (added, removed, changed []string, err error) {
	bs.edits.Lock()
	defer bs.edits.Unlock()
	bs.mu.Lock()
	current := append([]*botRun(nil), bs.bots...)
	bs.mu.Unlock()
	byKey := make(map[string]*botRun, len(current))
	for _, r := range current {
		byKey[botKey(r.bot)] = r
	}
	var fresh []config.Bot
	keep := make(map[string]bool, len(next))
	for _, b := range next {
		k := botKey(b)
		keep[k] = true
		if r := byKey[k]; r != nil && sameBot(r.bot, b) {
			continue
		}
		fresh = append(fresh, b)
	}
	runs, err := bs.prepare(fresh) // every new session is set up before any bot is touched
	if err != nil {
		return nil, nil, nil, err
	}
	deadline := time.Now().Add(bs.cfg.Gateway.ShutdownTimeout)
	type removal struct {
		r   *botRun
		why string
	}
	var removals []removal
	for _, r := range current {
		k := botKey(r.bot)
		switch {
		case !keep[k]:
			removals = append(removals, removal{r, gone})
			removed = append(removed, r.bot.Name())
		case slices.ContainsFunc(fresh, func(b config.Bot) bool { return botKey(b) == k }):
			removals = append(removals, removal{r, "its configuration changed; it starts again"})
			changed = append(changed, r.bot.Name())
		}
	}
	// Every sync ends at once (a slow one must not keep the others running: with a cluster,
	// another gateway may take them once the grace period has passed), then each is waited for.
	for _, rm := range removals {
		rm.r.stop()
	}
	for _, rm := range removals {
		bs.remove(rm.r, rm.why, deadline)
	}
	newRuns := make(map[string]*botRun, len(runs))
	for _, r := range runs {
		newRuns[botKey(r.bot)] = r
		if byKey[botKey(r.bot)] == nil {
			added = append(added, r.bot.Name())
		}
	}
	// The new list, in the order of next.
	list := make([]*botRun, 0, len(next))
	for _, b := range next {
		k := botKey(b)
		if r := newRuns[k]; r != nil {
			list = append(list, r)
		} else {
			list = append(list, byKey[k])
		}
	}
	bs.mu.Lock()
	bs.bots = list
	bs.mu.Unlock()
	bs.startRuns(runs)
	return added, removed, changed, nil
}

// reload loads the configuration again from environ (GATEWAY_ENV_FILE and MATRIX_BOTS_FILE are
// read anew) and applies its bot list; an invalid configuration changes nothing.
func (bs *botSet) reload() error {
	cfg, err := config.Load(bs.environ)
	if err != nil {
		bs.log.Error("reload refused: the configuration is invalid; the bots run as before", "error", err)
		return err
	}
	if !reflect.DeepEqual(cfg.Gateway, bs.cfg.Gateway) {
		bs.log.Warn("reload: GATEWAY_* options changed; they take effect at the next start (a reload changes the bots only)")
	}
	bs.mu.Lock()
	previous := bs.configured
	bs.configured = cfg.Bots
	bs.mu.Unlock()
	added, removed, changed, err := bs.apply(bs.wanted(), "no longer in the configuration")
	if err != nil {
		bs.mu.Lock()
		bs.configured = previous
		bs.mu.Unlock()
		bs.log.Error("reload refused: a bot cannot be set up; the bots run as before", "error", err)
		return err
	}
	bs.log.Info("configuration reloaded", "bots", len(cfg.Bots), "added", added, "removed", removed, "restarted", changed)
	return nil
}

// errClusterEdit: the gateways of a cluster share one bot list, which the page of one cannot change.
var errClusterEdit = errors.New("several gateways share these bots (GATEWAY_CLUSTER): change MATRIX_BOTS on every gateway and reload them")

// Reload implements admin.BotEditor: as SIGHUP.
func (bs *botSet) Reload(context.Context) error { return bs.reload() }

// AddBot implements admin.BotEditor: the bot object is checked as MATRIX_BOTS is (with the
// gateway's other variables), must not be a running bot nor share its onebot_self_id or
// onebot_access_token, and starts at once. It runs until the next restart or reload.
func (bs *botSet) AddBot(_ context.Context, botJSON string) (string, error) {
	if bs.cluster {
		return "", errClusterEdit
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(botJSON), &obj); err != nil {
		return "", errors.New("the bot must be one JSON object, a MATRIX_BOTS entry")
	}
	cfg, err := config.LoadWithBots(bs.environ, "["+botJSON+"]")
	if err != nil {
		return "", err
	}
	b := cfg.Bots[0]
	bs.edits.Lock()
	defer bs.edits.Unlock()
	bs.mu.Lock()
	b.Index = len(bs.bots)
	for _, r := range bs.bots {
		switch {
		case botKey(r.bot) == botKey(b):
			bs.mu.Unlock()
			return "", fmt.Errorf("%s runs already", b.Name())
		case b.OneBotSelfID != 0 && r.bot.OneBotSelfID == b.OneBotSelfID:
			bs.mu.Unlock()
			return "", fmt.Errorf("onebot_self_id %d is %s's already", b.OneBotSelfID, r.bot.Name())
		case b.OneBotAccessToken != "" && r.bot.OneBotAccessToken == b.OneBotAccessToken:
			bs.mu.Unlock()
			return "", fmt.Errorf("that onebot_access_token is %s's already", r.bot.Name())
		case b.OneBotPushToken != "" && r.bot.OneBotAccessToken == b.OneBotPushToken:
			bs.mu.Unlock()
			return "", fmt.Errorf("that onebot_push_access_token is the onebot_access_token of %s: this bot's reverse WebSockets "+
				"would be handed that bot's API token; set a different token", r.bot.Name())
		case b.OneBotAccessToken != "" && r.bot.OneBotPushToken == b.OneBotAccessToken:
			bs.mu.Unlock()
			return "", fmt.Errorf("that onebot_access_token is the onebot_push_access_token of %s: that bot's reverse "+
				"WebSockets would be handed this bot's API token; set a different token", r.bot.Name())
		}
	}
	// As MATRIX_BOTS with several bots (config pushTokens): a token handed to push endpoints
	// must not grant other bots.
	several := len(bs.bots) > 0
	bs.mu.Unlock()
	switch g := cfg.Gateway; {
	case several && b.OneBotPushToken != "" && b.OneBotPushToken == g.AccessToken:
		return "", errors.New("onebot_push_access_token equals GATEWAY_ACCESS_TOKEN, which grants every bot: this bot's " +
			"reverse WebSockets would be handed it; set a different token (or this bot's own onebot_access_token)")
	case several && b.OneBotAccessToken != "" && b.OneBotAccessToken == g.PushAccessToken:
		return "", errors.New("that onebot_access_token is GATEWAY_PUSH_ACCESS_TOKEN: every push endpoint would be " +
			"handed this bot's API token; set a different token")
	}
	runs, err := bs.prepare([]config.Bot{b})
	if err != nil {
		return "", err
	}
	bs.mu.Lock()
	bs.bots = append(bs.bots, runs...)
	bs.mu.Unlock()
	bs.startRuns(runs)
	bs.log.Info("bot added from the admin page", "bot", b.Name())
	return b.Name(), nil
}

// RemoveBot implements admin.BotEditor: bot index stops and leaves the hub, if it is still the
// bot named name. It is back at the next restart or reload if the configuration lists it.
func (bs *botSet) RemoveBot(_ context.Context, index int, name string) error {
	if bs.cluster {
		return errClusterEdit
	}
	bs.edits.Lock()
	defer bs.edits.Unlock()
	bs.mu.Lock()
	if index < 0 || index >= len(bs.bots) || bs.bots[index].bot.Name() != name {
		bs.mu.Unlock()
		return errors.New("the bot list has changed since the page was shown: reload the page")
	}
	r := bs.bots[index]
	bs.bots = slices.Delete(bs.bots, index, index+1)
	bs.mu.Unlock()
	bs.remove(r, "removed from the admin page", time.Now().Add(bs.cfg.Gateway.ShutdownTimeout))
	bs.log.Info("bot removed from the admin page", "bot", name)
	return nil
}

// startRuns tells the hub to expect the new bots, pins their v11 self_ids and starts them.
func (bs *botSet) startRuns(runs []*botRun) {
	bs.expect(runs)
	for _, r := range runs {
		if r.bot.OneBotSelfID != 0 && r.s.UserID() != "" {
			_ = pinSelfID(bs.botsCtx, r.s, r.bot, bs.db, bs.log)
		}
		bs.launch(r)
	}
}

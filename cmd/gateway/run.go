package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/matrix-onebot/gateway/internal/admin"
	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/await"
	"github.com/matrix-onebot/gateway/internal/backoff"
	"github.com/matrix-onebot/gateway/internal/cluster"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/e2ee"
	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/fleet"
	"github.com/matrix-onebot/gateway/internal/gateway"
	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/matrix"
	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/metrics"
	"github.com/matrix-onebot/gateway/internal/retention"
	"github.com/matrix-onebot/gateway/internal/satori"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/internal/storage/writegate"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes: one per kind of failure, so that scripts and service managers can tell them apart.
const (
	exitOK       = 0
	exitFailure  = 1 // a failure while running
	exitConfig   = 2 // the configuration is invalid: see the message
	exitStorage  = 3 // the database cannot be opened or migrated
	exitListen   = 4 // the HTTP listener cannot be opened
	exitInternal = 5
)

// exitCodes is what `gateway help` says about each exit code.
var exitCodes = []struct {
	code    int
	meaning string
}{
	{exitOK, "stopped cleanly (SIGINT or SIGTERM), or the command succeeded"},
	{exitFailure, "a failure while running (e.g. login or logout failed)"},
	{exitConfig, "the configuration or the command line is invalid: the message names what to set"},
	{exitStorage, "the database (GATEWAY_DATABASE) cannot be opened or migrated"},
	{exitListen, "the listen address (GATEWAY_LISTEN) cannot be bound"},
	{exitInternal, "an internal error"},
}

const commands = `usage: gateway [command]

commands:
  run            run the gateway (the default)
  check-config   check the configuration from the environment and exit
  login BOT      log a bot in once (password or OAuth) and store its session; BOT is its
                 index in MATRIX_BOTS, its user_id or its login_user
  logout BOT     end the bot's stored session (OAuth: revoke its tokens) and forget it
  healthcheck [URL]
                 ask the running gateway's /readyz (at GATEWAY_LISTEN, or URL); exit 0 when
                 every bot is syncing, 1 when not: the container image's HEALTHCHECK
  version        print the version and exit
  help           print this help (also: gateway COMMAND --help)

Configuration comes from the environment; see deploy/gateway.env.example.
`

// usage is the help: the commands, then the exit codes.
func usage() string {
	var b strings.Builder
	b.WriteString(commands)
	b.WriteString("\nexit codes:\n")
	for _, e := range exitCodes {
		fmt.Fprintf(&b, "  %d  %s\n", e.code, e.meaning)
	}
	return b.String()
}

// commandUsage is the help of one command (`gateway COMMAND --help`).
func commandUsage(cmd string) string {
	switch cmd {
	case "login":
		return "usage: gateway login BOT\n\nLog the bot in once (with login_user/login_password, else OAuth) and store its session,\nwhere a running gateway picks it up. BOT is the bot's index in MATRIX_BOTS (from 0), its\nuser_id or its login_user. Configuration comes from the environment, as for `gateway run`.\n"
	case "logout":
		return "usage: gateway logout BOT\n\nEnd the bot's stored session (OAuth: revoke its tokens) and forget it. BOT is the bot's\nindex in MATRIX_BOTS (from 0), its user_id or its login_user.\n"
	case "healthcheck":
		return "usage: gateway healthcheck [URL]\n\nAsk the running gateway's /readyz and exit 0 when every bot is syncing, 1 when not or when\nit cannot be reached (within 5 s). It asks GATEWAY_LISTEN (0.0.0.0 and :: on loopback), or\nURL, the gateway's base URL such as http://127.0.0.1:5700. It is the container image's\nHEALTHCHECK, which has no shell or curl.\n"
	}
	return usage()
}

// wantsHelp reports whether the arguments after the command ask for help.
func wantsHelp(args []string) bool {
	return slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" })
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, environ, stdout, stderr, nil)
}

// runWith is run; for `gateway run`, each receive from reload loads the configuration again and
// applies its bot list (main sends one at each SIGHUP).
func runWith(ctx context.Context, args, environ []string, stdout, stderr io.Writer, reload <-chan struct{}) int {
	cmd := "run"
	if len(args) > 1 {
		cmd = args[1]
	}
	if len(args) > 2 && wantsHelp(args[2:]) {
		switch cmd {
		case "run", "serve", "login", "logout", "check-config", "healthcheck", "version", "help":
			fmt.Fprint(stdout, commandUsage(cmd))
			return exitOK
		}
	}
	switch cmd {
	case "run", "serve":
		return serveWith(ctx, environ, stderr, reload)
	case "login", "logout":
		return loginCommand(ctx, cmd, args[2:], environ, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, args[2:], environ, stdout, stderr)
	case "check-config":
		cfg, code := loadConfig(environ, stderr)
		if cfg == nil {
			return code
		}
		fmt.Fprintf(stdout, "configuration OK: %d bot(s)\n", len(cfg.Bots))
		for _, b := range cfg.Bots {
			fmt.Fprintf(stdout, "  - %s\n", b)
		}
		return exitOK
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "gateway %s (OneBot v11, v12; impl %s)\n", version, gateway.Impl)
		return exitOK
	case "help", "--help", "-h", "-help":
		fmt.Fprint(stdout, usage())
		return exitOK
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage())
		return exitConfig
	}
}

func loadConfig(environ []string, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(environ)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitConfig
	}
	return cfg, exitOK
}

func newLogger(g config.Gateway, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: g.Level()}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// serve runs the gateway in phases: config → logger → storage → bots → servers → wait → stop.
func serve(ctx context.Context, environ []string, stderr io.Writer) int {
	return serveWith(ctx, environ, stderr, nil)
}

// serveWith is serve; each receive from reload re-reads the bot list (SIGHUP).
func serveWith(ctx context.Context, environ []string, stderr io.Writer, reload <-chan struct{}) int {
	cfg, code := loadConfig(environ, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg.Gateway, stderr)
	log.Info("starting gateway", "version", version, "bots", len(cfg.Bots), "database", cfg.Gateway.DatabaseForLog())

	db, err := storage.Open(ctx, cfg.Gateway.Database)
	if err != nil {
		log.Error("failed to open the database; check GATEWAY_DATABASE"+diskFullAdvice(err), "error", err)
		return exitStorage
	}
	defer db.Close()
	db.SetRetention(retentionOf(cfg.Gateway))
	// Once per database, before anything else uses it: text older builds deleted or kept for
	// redacted messages leaves the file.
	if ran, err := db.ScrubOnce(ctx); err != nil {
		log.Warn("failed to rewrite the database once to clear text older versions left in it; it is tried again at the next start", "error", err)
	} else if ran {
		log.Info("rewrote the database file once (VACUUM), so that no text deleted before secure_delete was on stays in its free space")
	}
	stateStore := sqlstatestore.NewSQLStateStore(db.DBUtil(), dbutil.NoopLogger, false)
	// Every migration runs here, once, before any bot starts: bots sharing a table must not
	// create it at the same time, nor gateways sharing a PostgreSQL database.
	err = storage.UpgradeExclusively(ctx, db, func(ctx context.Context) error {
		if err := stateStore.Upgrade(ctx); err != nil {
			return fmt.Errorf("failed to prepare the Matrix state store: %w", err)
		}
		if err := e2ee.Prepare(ctx, db.DBUtil()); err != nil {
			return fmt.Errorf("failed to prepare the encryption tables: %w", err)
		}
		if cfg.Gateway.Cluster {
			if err := cluster.Prepare(ctx, db.DBUtil()); err != nil {
				return fmt.Errorf("failed to prepare the tables of the gateways sharing the bots: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		log.Error("failed to prepare the database"+diskFullAdvice(err), "error", err)
		return exitStorage
	}
	files, err := media.New(ctx, media.Options{
		DB: db, Dir: cfg.Gateway.FilesDir, MaxSize: cfg.Gateway.MediaMaxSize, PublicURL: cfg.Gateway.PublicURL,
		URLTTL: cfg.Gateway.MediaURLTTL, Logger: log.With("component", "media"),
	})
	if err != nil {
		log.Error("failed to open the file store; check GATEWAY_FILES_DIR", "error", err)
		return exitStorage
	}

	warnPushToken(log, cfg)
	onebotMedia := intake.New(intake.Options{
		Files: files, AllowedNetworks: cfg.Gateway.MediaAllowedNetworks, LocalDir: cfg.Gateway.MediaLocalDir,
		UploadTTL: cfg.Gateway.MediaUploadTTL, UploadDir: cfg.Gateway.FilesDir,
	})
	mets := metrics.New()
	mets.AddSource(dbWriteWaits)
	// The pruner deletes what is past the retention: now, then on a schedule.
	pruneCtx, stopPruning := context.WithCancel(context.WithoutCancel(ctx))
	pruned := make(chan struct{})
	defer func() { stopPruning(); <-pruned }() // before the database closes
	go func() {
		defer close(pruned)
		(&retention.Pruner{DB: db, Files: files, Uploads: onebotMedia, Log: log.With("component", "retention"), Metrics: mets}).Run(pruneCtx)
	}()
	log.Info("data retention", "messages", cfg.Gateway.MessageRetention, "messages_per_room", cfg.Gateway.MessageRetentionCount,
		"encrypted_bodies", cfg.Gateway.EncryptedBodyRetention, "files", cfg.Gateway.FileRetention,
		"prune_interval", retention.Interval(db.Retention()))

	tokens, callbacks := tokenStore(cfg, db), auth.NewCallbackMux()
	accessLevel, accessLog := cfg.Gateway.AccessLog()
	extraFaces := faces(cfg.Gateway, log, mets)
	var coord *cluster.Coordinator
	var proxy *cluster.Proxy
	hub := gateway.NewHub(gateway.Options{
		Elsewhere: func(context.Context) []string { return elsewhere(proxy) },
		Metrics:   mets, MetricsPublic: cfg.Gateway.MetricsPublic, AccessLogLevel: accessLevel, AccessLogOff: !accessLog,
		Version: version, AccessToken: cfg.Gateway.AccessToken, BotTokens: botTokens(cfg), HeartbeatInterval: cfg.Gateway.HeartbeatInterval,
		IDs: db.IDs(), Logger: log.With("component", "onebot"), // the bots are expected one by one (botSet.expect)
		DropWithoutClient: cfg.Gateway.DropWithoutClient,
		Media:             onebotMedia,
		Transports:        transports(cfg.Gateway, db),
		Web:               webOptions(cfg.Gateway.Web),
		OAuthCallback:     &gateway.OAuthCallback{Path: auth.CallbackPath, Handler: callbacks},
		Faces:             extraFaces,
	})
	pickleKey, err := e2ee.LoadPickleKey(cfg.Gateway.PickleKey, db.Path())
	if err != nil {
		log.Error("failed to load the pickle key of the encryption state; set GATEWAY_PICKLE_KEY or restore the key file", "error", err)
		return exitStorage
	}
	if cfg.Gateway.PickleKeyShort {
		log.Warn("the pickle key is shorter than 16 bytes and kept by GATEWAY_PICKLE_KEY_ALLOW_SHORT: the encryption state is only as safe as the key; "+
			"replace it with one from openssl rand -hex 32 once every bot has recovery_key and login_user/login_password (its room keys are then restored from the key backup)",
			"length", len(strings.TrimSpace(cfg.Gateway.PickleKey)))
	}
	// Servers. The base context ends WebSocket connections, which Shutdown does not close. The
	// bots stop first at a stop, their push connections after their final status.
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	hub.ServeTransports(serveCtx) // the hub owns its transports (listener, reverse WebSockets, webhooks) until then
	botsCtx, stopBots := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBots()
	// Bots share one HTTP transport per homeserver, and their starts are spread: at most
	// GATEWAY_START_CONCURRENCY log in and run their first sync at once.
	bots := &botSet{
		cfg: cfg, db: db, stateStore: stateStore, pickleKey: pickleKey, files: files, tokens: tokens, callbacks: callbacks,
		mets: mets, hub: hub, transports: fleet.NewTransports(cfg.Proxy),
		gate: startGate(cfg, mets),
		log:  log.With("component", "bots"), botsCtx: botsCtx, serveCtx: serveCtx, environ: environ,
	}
	bots.configured, bots.cluster = cfg.Bots, cfg.Gateway.Cluster
	initial := cfg.Bots
	if bots.cluster {
		initial = nil // the cluster gives this gateway its bots (below)
	}
	runs, err := bots.prepare(initial)
	if err != nil {
		log.Error("failed to set up a bot", "error", err)
		return exitConfig
	}
	bots.expect(runs) // before /readyz is served

	if bots.cluster {
		c, instance, err := newCoordinator(cfg, db, bots, log.With("component", "cluster"))
		if err != nil {
			log.Error("failed to join the gateways sharing the bots (GATEWAY_CLUSTER)", "error", err)
			return exitConfig
		}
		coord = c
		if proxy, err = newClusterProxy(ctx, coord, hub, bots, db, cfg.Gateway.Web.MaxActionSize, log.With("component", "cluster")); err != nil {
			log.Error("failed to read the key the gateways sharing the bots mark their requests with (GATEWAY_CLUSTER); check GATEWAY_DATABASE", "error", err)
			return exitStorage
		}
		log.Info("sharing the bots with the other gateways on this database", "instance", instance, "url", cfg.Gateway.ClusterURL)
	}
	var srv *web.Server
	if cfg.Gateway.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Gateway.Listen)
		if err != nil {
			log.Error("failed to listen; check GATEWAY_LISTEN", "listen", cfg.Gateway.Listen, "error", err)
			return exitListen
		}
		if cfg.Gateway.Admin {
			hub.SetAdmin(admin.New(admin.Options{
				AccessToken: cfg.Gateway.AccessToken, Secure: cfg.Gateway.Web.PublicHTTPS,
				SessionTTL: cfg.Gateway.AdminSessionTTL, Backend: bots, Hub: hub, Logger: log.With("component", "admin"),
				Limiter: hub.AuthLimiter(),
			}))
		}
		handler := hub.Handler() // after SetAdmin
		if proxy != nil {
			handler = proxy.Wrap(handler)
		}
		srv = web.NewServer(serveCtx, handler, webOptions(cfg.Gateway.Web), log.With("component", "http"))
		hub.Start(gateway.Listener{Server: srv, Listener: ln})
		log.Info("serving OneBot", "listen", ln.Addr().String(), "v12", "/onebot/v12/", "v11", "/onebot/v11/")
		if cfg.Gateway.AccessToken == "" {
			log.Info("no GATEWAY_ACCESS_TOKEN: requests are served only at the gateway's own names (IP addresses, localhost, "+
				"the GATEWAY_LISTEN and GATEWAY_PUBLIC_URL hosts); set GATEWAY_PUBLIC_URL if clients use another name", "names", cfg.Gateway.Web.Hosts)
		}
		if len(cfg.Gateway.Web.AllowedOrigins) > 0 {
			log.Info("browser pages at these origins may call the OneBot endpoints (GATEWAY_ALLOWED_ORIGINS)", "origins", cfg.Gateway.Web.AllowedOrigins)
		}
	}

	if cfg.Gateway.Pprof != "" {
		_, stopPprof, err := startPprof(cfg.Gateway.Pprof, log.With("component", "pprof"))
		if err != nil {
			log.Error("failed to serve the profiler; check GATEWAY_PPROF", "listen", cfg.Gateway.Pprof, "error", err)
			return exitListen
		}
		defer stopPprof()
	}

	// The gateway's own push connections; then the bots: each logs in (learning its user ID if
	// not configured), joins the hub, then syncs.
	hub.Start(sharedEndpoints(cfg)...)
	bots.startAll(runs)
	clusterCtx, stopCluster := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCluster()
	clusterDone := make(chan struct{})
	if coord != nil {
		go func() {
			defer close(clusterDone)
			coord.Run(clusterCtx)
		}()
	} else {
		close(clusterDone)
	}

	for reloading := true; reloading; {
		select {
		case <-ctx.Done():
			reloading = false
		case <-reload:
			log.Info("reloading the configuration (SIGHUP)")
			_ = bots.reload() // an invalid configuration is logged and changes nothing
		}
	}
	log.Info("stopping gateway", "deadline", cfg.Gateway.ShutdownTimeout)
	deadline := time.Now().Add(cfg.Gateway.ShutdownTimeout)
	stopBots() // a batch being processed is finished and its position saved
	if !waitUntil(&bots.loops, deadline) {
		log.Warn("bots did not stop before the deadline")
	}
	// The faces with streams of their own deliver the bots' final status and end their streams.
	drainCtx, drained := context.WithDeadline(context.Background(), deadline)
	for _, f := range extraFaces {
		if d, ok := f.(face.Drainer); ok {
			d.Drain(drainCtx)
		}
	}
	drained()
	stopCluster() // gives this gateway's bots up (they have stopped): the others take them at once
	if !await.Closed(clusterDone, deadline) {
		log.Warn("the bots were not given up to the other gateways before the deadline")
	}
	stopServing()
	if srv != nil {
		sctx, cancel := context.WithDeadline(context.Background(), deadline)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	if ended, _ := hub.WaitTransports(deadline); !ended {
		log.Warn("OneBot connections did not close before the deadline")
	}
	stopPruning()
	<-pruned // a pass under way ends with its context, before the database closes
	log.Info("gateway stopped")
	return exitOK
}

// gatedLogin logs s in holding a start slot, so that the logins of bots whose user ID is not
// configured are spread as their first syncs are.
// startGate bounds the bots' starts (GATEWAY_START_CONCURRENCY), shown in mets.
func startGate(cfg *config.Config, mets *metrics.Metrics) *fleet.Gate {
	g := fleet.NewGate(cfg.Gateway.StartConcurrency, cfg.Gateway.StartJitter, 2*cfg.APITimeout)
	g.Metrics = mets.Fleet()
	return g
}

func gatedLogin(ctx context.Context, gate *fleet.Gate, s *matrix.Session) error {
	release, err := gate.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.Login(ctx)
}

// retentionOf turns the GATEWAY_*_RETENTION options into the storage's bounds.
func retentionOf(g config.Gateway) storage.Retention {
	return storage.Retention{
		MessageAge: g.MessageRetention, MessageCount: g.MessageRetentionCount,
		EncryptedBodyAge: g.EncryptedBodyRetention, NoEncryptedBodies: g.EncryptedBodyRetention == 0,
		FileAge: g.FileRetention,
	}
}

// diskFullAdvice says what to do when the database could not be set up for lack of space.
func diskFullAdvice(err error) string {
	if storage.IsDiskFull(err) {
		return ": database disk is full; free space on the disk of GATEWAY_DATABASE, then start the gateway again"
	}
	return ""
}

// botSelfID returns the bot's OneBot v11 self_id: onebot_self_id, pinned in the database as the
// bot's v11 user number (so that member lists, get_stranger_info and at segments say the same
// number), or the number kept in the database. A failing database is retried with backoff, the
// bot's status saying why; it reports false only when ctx ends.
func botSelfID(ctx context.Context, s *matrix.Session, b config.Bot, db *storage.DB, log *slog.Logger) (int64, bool) {
	assign := func() (int64, error) {
		if b.OneBotSelfID == 0 {
			return db.IDs().V11ID(ctx, storage.KindUser, string(s.UserID()))
		}
		return b.OneBotSelfID, pinSelfID(ctx, s, b, db, log)
	}
	retry := backoff.New(time.Second, 30*time.Second)
	for {
		selfID, err := assign()
		if err == nil {
			return selfID, true
		}
		if ctx.Err() != nil {
			return 0, false
		}
		wait := retry.Next()
		s.Failed(fmt.Errorf("failed to assign a OneBot v11 self_id: %w", err), wait)
		if await.Sleep(ctx, wait) != nil {
			return 0, false
		}
	}
}

// pinSelfID makes the bot's onebot_self_id its v11 user number in the database.
func pinSelfID(ctx context.Context, s *matrix.Session, b config.Bot, db *storage.DB, log *slog.Logger) error {
	moved, to, err := db.IDs().PinV11ID(ctx, string(s.UserID()), b.OneBotSelfID)
	if moved != "" {
		log.Warn("a user had the v11 number that onebot_self_id gives this bot; they have a new number now",
			"bot", s.UserID(), "onebot_self_id", b.OneBotSelfID, "user", moved, "new_v11_user_id", to)
	}
	return err
}

// faces are the protocols served besides OneBot v11 and v12: Satori unless GATEWAY_SATORI_PATH
// is off.
func faces(g config.Gateway, log *slog.Logger, mets *metrics.Metrics) []face.Face {
	if g.SatoriOff {
		return nil
	}
	sf := satori.New(satori.Options{
		Path: g.SatoriPath, Backlog: g.SatoriBacklog, Logger: log.With("component", "satori"),
		MaxBody: g.Web.MaxUploadSize, MaxActionSize: g.Web.MaxActionSize, AllowedOrigins: g.Web.AllowedOrigins,
	})
	mets.AddSource(func() []metrics.Sample {
		return []metrics.Sample{{Name: "satori_resume_gaps_total", Value: float64(sf.ResumeGaps()),
			Help: "Satori clients that resumed from an sn older than the events kept (GATEWAY_OUTBOX_MAX_EVENTS, _MAX_AGE) or unknown to this gateway: events were lost to them."}}
	})
	return []face.Face{sf}
}

// transports turns the GATEWAY_* transport options into the hub's.
func transports(g config.Gateway, db *storage.DB) gateway.Transports {
	t := gateway.Transports{
		V11PostFormat: g.V11PostFormat, EventBuffer: g.V12EventBuffer,
		WebhookSecret: g.WebhookSecret, WebhookTimeout: g.WebhookTimeout, WebhookRetries: g.WebhookRetries,
		PushToken: g.PushAccessToken, WebhookReplyScope: g.WebhookReplyScope, ReconnectInterval: g.ReconnectInterval,
		OutboxLimits: storage.OutboxLimits{MaxEvents: g.OutboxMaxEvents, MaxAge: g.OutboxMaxAge},
		ReplayRate:   g.OutboxReplayRate, OutboxShared: g.Cluster,
	}
	if g.OutboxMaxEvents > 0 {
		t.Outbox = db.Outbox()
	}
	return t
}

// botTokens reports whether some bot has a OneBot access token of its own.
func botTokens(cfg *config.Config) bool {
	for _, b := range cfg.Bots {
		if b.OneBotAccessToken != "" {
			return true
		}
	}
	return false
}

// warnPushToken tells the operator of an older setup, where reverse WebSockets and webhooks were
// sent GATEWAY_ACCESS_TOKEN, that they are now sent no token unless one is set for them.
func warnPushToken(log *slog.Logger, cfg *config.Config) {
	g := cfg.Gateway
	if g.PushAccessToken != "" || g.AccessToken == "" {
		return
	}
	tokenless := len(g.V12ReverseWS) + len(g.V12Webhook) // endpoints sent no token
	for _, b := range cfg.Bots {
		if b.OneBotPushToken == "" {
			tokenless += len(g.V11ReverseWS) + len(g.V11ReverseWSAPI) + len(g.V11ReverseWSEvent) +
				len(b.OneBotV11ReverseWS) + len(b.OneBotV12ReverseWS)
		}
	}
	if tokenless > 0 {
		log.Warn("reverse WebSockets and webhooks are sent no access token (GATEWAY_ACCESS_TOKEN is only for clients " +
			"calling the gateway); if the OneBot client checks one (NoneBot2 ONEBOT_V11_ACCESS_TOKEN / ONEBOT_V12_ACCESS_TOKEN, " +
			"Koishi token), set GATEWAY_PUSH_ACCESS_TOKEN to the same value")
	}
}

// webOptions turns the listener's GATEWAY_* options into the hub's and the server's.
func webOptions(w config.Web) web.Options {
	return web.Options{
		AllowedOrigins: w.AllowedOrigins, Hosts: w.Hosts,
		MaxActionSize: w.MaxActionSize, MaxUploadSize: w.MaxUploadSize, MaxBytesInFlight: w.MaxBytesInFlight,
		ReadTimeout: w.ReadTimeout, WriteTimeout: w.WriteTimeout, IdleTimeout: w.IdleTimeout,
		MaxConnections: w.MaxConnections, MaxConnectionsPerAddr: w.MaxConnectionsPerAddr,
		PublicHTTPS: w.PublicHTTPS,
	}
}

// waitUntil waits for wg until deadline; it reports whether wg finished.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return await.Closed(done, deadline)
}

// dbWriteWaits are the SQLite writes that waited for another write's turn (storage/writegate):
// a count that keeps rising with a wait time that does too means the database is the bottleneck.
func dbWriteWaits() []metrics.Sample {
	n, waited := writegate.Stats()
	return []metrics.Sample{
		{Name: "db_write_waits_total", Value: float64(n),
			Help: "SQLite writes of this gateway that waited for another write to finish (writes take turns)."},
		{Name: "db_write_wait_seconds_total", Value: waited.Seconds(),
			Help: "Time SQLite writes of this gateway spent waiting for another write to finish."},
	}
}

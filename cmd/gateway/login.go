package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/matrix-onebot/gateway/internal/auth"
	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// tokenStore is where the bots' sessions are kept: MATRIX_TOKEN_STORE_PATH (the JSON file of
// nonebot-adapter-matrix) when set, else the database.
func tokenStore(cfg *config.Config, db *storage.DB) auth.Store {
	if cfg.TokenStorePath != "" {
		return &auth.FileStore{Path: cfg.TokenStorePath}
	}
	return auth.DBStore{DB: db}
}

// findBot picks the bot named by sel: its index in MATRIX_BOTS, its user_id or its login_user.
func findBot(bots []config.Bot, sel string) (config.Bot, error) {
	if i, err := strconv.Atoi(sel); err == nil {
		if i < 0 || i >= len(bots) {
			return config.Bot{}, fmt.Errorf("there is no bot %d: MATRIX_BOTS has %d bot(s), numbered from 0", i, len(bots))
		}
		return bots[i], nil
	}
	for _, b := range bots {
		if string(b.UserID) == sel || b.LoginUser == sel {
			return b, nil
		}
	}
	names := make([]string, len(bots))
	for i, b := range bots {
		names[i] = fmt.Sprintf("%d (%s)", i, b.Name())
	}
	return config.Bot{}, fmt.Errorf("no bot has user_id or login_user %q; the bots are %s", sel, strings.Join(names, ", "))
}

// loginCommand runs `gateway login BOT` or `gateway logout BOT`.
func loginCommand(ctx context.Context, cmd string, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "usage: gateway %s BOT (the bot's index in MATRIX_BOTS, its user_id or its login_user)\n", cmd)
		return exitConfig
	}
	cfg, code := loadConfig(environ, stderr)
	if cfg == nil {
		return code
	}
	bot, err := findBot(cfg.Bots, args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	log := newLogger(cfg.Gateway, stderr).With("bot", bot.Name())
	db, err := storage.Open(ctx, cfg.Gateway.Database)
	if err != nil {
		log.Error("failed to open the database; check GATEWAY_DATABASE", "error", err)
		return exitStorage
	}
	defer db.Close()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.Proxy != nil {
		transport.Proxy = http.ProxyURL(cfg.Proxy)
	}
	mgr, err := auth.New(auth.Options{
		Bot: bot, Store: tokenStore(cfg, db), Clients: db.Tokens(), Logger: log, RetryInterval: cfg.RetryInterval,
		HTTP:   &http.Client{Transport: transport, Timeout: cfg.APITimeout},
		Prompt: auth.TerminalPrompter{Out: stdout, In: os.Stdin},
	})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitConfig
	}
	where := "the database " + cfg.Gateway.DatabaseForLog()
	if cfg.TokenStorePath != "" {
		where = cfg.TokenStorePath
	}
	if cmd == "logout" {
		if err := mgr.Logout(ctx); err != nil {
			fmt.Fprintf(stderr, "logout failed: %v\n", err)
			return exitFailure
		}
		fmt.Fprintf(stdout, "logged out %s; its session was removed from %s\n", bot.Name(), where)
		return exitOK
	}
	t, err := mgr.Login(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "login failed: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "logged in as %s on device %s (%s); the session is stored in %s\n", t.UserID, t.DeviceID, t.Type, where)
	fmt.Fprintln(stdout, "A running gateway picks it up within seconds; otherwise start the gateway.")
	return exitOK
}

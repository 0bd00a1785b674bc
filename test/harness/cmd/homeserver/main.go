// Command homeserver runs a local Synapse in the foreground for demos and
// quickstarts:
//
//	go run ./test/harness/cmd/homeserver -dir DIR -port 8008 -user bot:botpass -user alice:alicepass
//
// It installs Synapse on first use (into <repo>/.cache), starts it, makes sure
// the users exist (registering them, or logging in when DIR is reused), prints
// one JSON line to stdout:
//
//	{"homeserver":"http://127.0.0.1:8008","users":[{"user_id":…,"access_token":…,"device_id":…,"password":…}]}
//
// and runs until SIGINT or SIGTERM. A DIR that holds a homeserver.yaml from an
// earlier run is reused with its database; without -dir a temporary directory
// is used and removed at exit. Progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/matrix-onebot/gateway/test/harness"
)

type userFlags []string

func (u *userFlags) String() string { return strings.Join(*u, ",") }

func (u *userFlags) Set(v string) error {
	localpart, password, ok := strings.Cut(v, ":")
	if !ok || localpart == "" || password == "" {
		return errors.New("want localpart:password")
	}
	*u = append(*u, v)
	return nil
}

type output struct {
	Homeserver string          `json:"homeserver"`
	ServerName string          `json:"server_name"`
	Dir        string          `json:"dir"`
	Users      []*harness.User `json:"users"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "homeserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		users      userFlags
		dir        = flag.String("dir", "", "homeserver directory (reused if it holds a homeserver.yaml; default: a temporary one)")
		port       = flag.Int("port", 8008, "client API port on 127.0.0.1 (0 = a free port)")
		serverName = flag.String("server-name", "localhost", "Matrix server name (for a new directory)")
		admins     = flag.String("admin", "", "comma-separated localparts to register as server admins")
	)
	flag.Var(&users, "user", "localpart:password of a user to create (repeatable)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Fprintln(os.Stderr, "homeserver: starting synapse (the first run installs it, which takes a minute or two)…")
	hs, err := harness.StartSynapse(ctx, harness.SynapseOptions{Dir: *dir, Port: *port, ServerName: *serverName})
	if err != nil {
		return fmt.Errorf("failed to start synapse: %w", err)
	}
	defer hs.Stop()

	isAdmin := map[string]bool{}
	for _, a := range strings.Split(*admins, ",") {
		if a != "" {
			isAdmin[a] = true
		}
	}
	out := output{Homeserver: hs.URL(), ServerName: hs.ServerName(), Dir: hs.Dir(), Users: []*harness.User{}}
	for _, u := range users {
		localpart, password, _ := strings.Cut(u, ":")
		user, err := hs.EnsureUser(ctx, localpart, password, isAdmin[localpart])
		if err != nil {
			return fmt.Errorf("failed to create user %s: %w", localpart, err)
		}
		out.Users = append(out.Users, user)
	}
	line, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("failed to encode output: %w", err)
	}
	fmt.Println(string(line))
	fmt.Fprintf(os.Stderr, "homeserver: %s is up (log: %s); press Ctrl+C to stop\n", hs.URL(), hs.LogPath())

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "homeserver: stopping")
		return nil
	case <-hs.Done():
		return fmt.Errorf("synapse exited unexpectedly; last lines of %s:\n%s", hs.LogPath(), hs.LogTail(40))
	}
}

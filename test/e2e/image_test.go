//go:build linux

package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/image"
)

// The container image of deploy/Dockerfile, built with buildah (no daemon, no registry) from a
// static binary, run as the image says (its entrypoint, user, environment and working
// directory, chrooted into its root file system) against the test Synapse: NoneBot2 gets an echo
// through it, and the image's HEALTHCHECK command tells ready from not ready.
func TestContainerImageEcho(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("building and running the image (buildah, chroot) needs root, as in CI")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := image.EnsureAptTool(ctx, "buildah", "buildah"); errors.Is(err, image.ErrNoApt) {
		t.Skipf("cannot build the image here: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gateway")
	if err := image.BuildStaticGateway(ctx, bin); err != nil {
		t.Fatal(err)
	}
	im, err := image.BuildGatewayImage(ctx, filepath.Join(dir, "image"), bin)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := im.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User == "" || strings.HasPrefix(cfg.User, "0") || strings.HasPrefix(cfg.User, "root") {
		t.Errorf("image user %q: want a non-root user", cfg.User)
	}
	if _, ok := cfg.Volumes["/data"]; !ok {
		t.Errorf("image volumes %v: want /data", cfg.Volumes)
	}
	if cfg.Healthcheck == nil || !slices.Equal(cfg.Healthcheck.Test, []string{"CMD", "/gateway", "healthcheck"}) {
		t.Errorf("image healthcheck %+v: want CMD /gateway healthcheck", cfg.Healthcheck)
	}
	if !slices.Contains(cfg.Env, "GATEWAY_LISTEN=0.0.0.0:5700") || !slices.Contains(cfg.Env, "GATEWAY_DATABASE=/data/gateway.db") {
		t.Errorf("image env %q: want GATEWAY_LISTEN=0.0.0.0:5700 and the database in /data", cfg.Env)
	}
	c, err := im.Mount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove(context.Background()) })
	for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/Asia/Shanghai"} {
		if _, err := os.Stat(filepath.Join(c.Rootfs, f)); err != nil {
			t.Errorf("the image lacks /%s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(c.Rootfs, "bin", "sh")); err == nil {
		t.Errorf("the image has a shell (/bin/sh, %v): want nothing but the gateway", fi.Mode())
	}

	// Listening on 0.0.0.0 without a token is refused: the image does not run open.
	bot := newBotUser(t)
	out, code, err := c.Run(ctx, map[string]string{"MATRIX_BOTS": botJSON(bot, nil)}, "run")
	if err != nil || code != 2 || !strings.Contains(out, "GATEWAY_ACCESS_TOKEN") {
		t.Fatalf("image without a token: exit %d (%v), want 2 naming GATEWAY_ACCESS_TOKEN:\n%s", code, err, out)
	}

	const token = "image-token"
	nb := harness.NoneBotForTest(t, harness.NoneBotOptions{AccessToken: token})
	alice := newHuman(t, "alice")
	_, port, _ := net.SplitHostPort(freeAddr(t))
	env := map[string]string{
		"MATRIX_BOTS":               botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_LISTEN":            "0.0.0.0:" + port, // the image's listener, on a free port of the shared network
		"GATEWAY_ACCESS_TOKEN":      token,
		"GATEWAY_PUSH_ACCESS_TOKEN": token,
		"GATEWAY_V11_REVERSE_WS":    nb.V11ReverseWSURL(),
		"MATRIX_SYNC_TIMEOUT":       "5000",
	}
	// Before the gateway runs, the healthcheck says unhealthy (1).
	if out, code, err := c.Run(ctx, env, "healthcheck"); err != nil || code != 1 {
		t.Errorf("healthcheck with no gateway: exit %d (%v), want 1:\n%s", code, err, out)
	}
	opts, err := c.Command(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.LogPath = filepath.Join(dir, "container.log")
	proc, err := harness.StartProcess(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container log:\n%s", proc.LogTail(100))
		}
		_ = proc.Stop()
	})
	wctx, wcancel := context.WithTimeout(ctx, deadline)
	defer wcancel()
	if err := proc.WaitReady(wctx, harness.ReadyzCheck("http://127.0.0.1:"+port)); err != nil {
		t.Fatalf("the container's gateway is not ready: %v", err)
	}
	// The image's HEALTHCHECK, run in the container as a runtime would.
	if out, code, err := c.Run(ctx, env, cfg.Healthcheck.Test[2:]...); err != nil || code != 0 {
		t.Errorf("healthcheck of the running container: exit %d (%v), want 0:\n%s", code, err, out)
	}

	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	waitFor(t, "NoneBot to see the bot connect", func() bool { return strings.Contains(nb.Log(), "connected") })
	alice.send(room, "/echo from the container")
	alice.waitMessage(room, bot.UserID, func(c *event.MessageEventContent) bool { return c.Body == "from the container" })

	// The state is in the image's /data, written as the image's user.
	fi, err := os.Stat(filepath.Join(c.Rootfs, "data", "gateway.db"))
	if err != nil {
		t.Fatalf("no database in /data: %v", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || strconv.FormatUint(uint64(st.Uid), 10) != strings.Split(cfg.User, ":")[0] {
		t.Errorf("/data/gateway.db is owned by %v, want the image's user %s", fi.Sys(), cfg.User)
	}
	if err := proc.Stop(); err != nil {
		t.Errorf("the container's gateway did not stop cleanly on SIGTERM: %v", err)
	}
}

// Package deploy checks the files in deploy/ with the tools that read them: systemd-analyze for
// the unit, the compose-spec loader for the compose file, and the README's install line.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/image"
	"github.com/matrix-onebot/gateway/test/harness/tools"
)

func repoFile(t *testing.T, parts ...string) string {
	t.Helper()
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root}, parts...)...)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// unitSettings reads a unit file's Key=Value lines by section.
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// systemdVerify runs systemd-analyze verify on the unit text with its ExecStart binary at bin
// (verify refuses a command that does not exist), and returns what it printed.
func systemdVerify(t *testing.T, ctx context.Context, unit, bin string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "matrix-onebot-gateway.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/gateway", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", path).CombinedOutput()
	return string(out), err
}

// deploy/gateway.service passes systemd-analyze verify without a warning and has the hardening
// the README promises.
func TestSystemdUnit(t *testing.T) {
	ctx := testCtx(t)
	if err := image.EnsureAptTool(ctx, "systemd-analyze", "systemd"); errors.Is(err, image.ErrNoApt) {
		t.Skipf("cannot verify the unit here: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	path := repoFile(t, "deploy", "gateway.service")
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	if err := harness.BuildGateway(ctx, bin); err != nil {
		t.Fatal(err)
	}
	if out, err := systemdVerify(t, ctx, string(unit), bin); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify deploy/gateway.service: %v\n%s", err, out)
	}
	// The check can fail: a misspelt directive is reported.
	if out, _ := systemdVerify(t, ctx, strings.Replace(string(unit), "NoNewPrivileges=", "NoNewPrivilege=", 1), bin); !strings.Contains(out, "NoNewPrivilege") {
		t.Errorf("systemd-analyze verify did not report a misspelt directive: %q", out)
	}

	s := unitSettings(t, path)
	for key, want := range map[string]string{
		"Service.DynamicUser":     "yes",
		"Service.ProtectSystem":   "strict",
		"Service.NoNewPrivileges": "yes",
		"Service.StateDirectory":  "matrix-onebot-gateway",
		"Service.ExecStart":       "/usr/local/bin/gateway run",
		"Service.EnvironmentFile": "/etc/matrix-onebot/gateway.env",
		"Service.ProtectHome":     "yes",
		"Service.PrivateTmp":      "yes",
		"Install.WantedBy":        "multi-user.target",
	} {
		if got := s[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	// The state is in the state directory, not the working directory's ./data.
	if env := strings.Join(s["Service.Environment"], " "); !strings.Contains(env, "GATEWAY_DATABASE=/var/lib/matrix-onebot-gateway/") {
		t.Errorf("Environment %q: want GATEWAY_DATABASE in the state directory", env)
	}
	if got := s["Service.CapabilityBoundingSet"]; len(got) != 1 || got[0] != "" {
		t.Errorf("CapabilityBoundingSet = %q, want empty (no capabilities)", got)
	}
}

// compose runs the compose-spec validator on file with env and returns its JSON model.
func compose(t *testing.T, ctx context.Context, validator, file string, env ...string) (map[string]any, string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, validator, file)
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, stderr.String(), err
	}
	var model map[string]any
	if err := json.Unmarshal(out, &model); err != nil {
		t.Fatalf("validator output is not JSON: %v\n%s", err, out)
	}
	return model, stderr.String(), nil
}

// deploy/compose.yaml is a valid compose file (test/tools/composecheck: compose-go, what docker
// compose loads it with: the schema, interpolation and the model's consistency) wiring Synapse, the echo bot and the gateway as the
// bot's sidecar; without the secrets it refuses to load, naming them.
func TestComposeFile(t *testing.T) {
	ctx := testCtx(t)
	validator, err := tools.EnsureComposeCheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	file := repoFile(t, "deploy", "compose.yaml")
	model, stderr, err := compose(t, ctx, validator, file, "GATEWAY_ACCESS_TOKEN=t0ken", "MATRIX_BOT_PASSWORD=pw")
	if err != nil {
		t.Fatalf("deploy/compose.yaml is not valid: %v\n%s", err, stderr)
	}
	services, _ := model["services"].(map[string]any)
	for _, name := range []string{"synapse", "nonebot", "gateway"} {
		if services[name] == nil {
			t.Fatalf("no service %q in deploy/compose.yaml (services: %v)", name, services)
		}
	}
	gw := services["gateway"].(map[string]any)
	if gw["network_mode"] != "service:nonebot" {
		t.Errorf("gateway network_mode = %v, want service:nonebot (the bot's sidecar)", gw["network_mode"])
	}
	if gw["ports"] != nil {
		t.Errorf("the gateway publishes ports %v; only the bot beside it should reach it", gw["ports"])
	}
	build, _ := gw["build"].(map[string]any)
	if build == nil || !strings.HasSuffix(filepath.ToSlash(build["dockerfile"].(string)), "deploy/Dockerfile") {
		t.Errorf("gateway build = %v, want deploy/Dockerfile", gw["build"])
	}
	env, _ := gw["environment"].(map[string]any)
	if env["GATEWAY_ACCESS_TOKEN"] != "t0ken" {
		t.Errorf("gateway GATEWAY_ACCESS_TOKEN = %v, want the token from the environment", env["GATEWAY_ACCESS_TOKEN"])
	}
	var bots []map[string]any
	if err := json.Unmarshal([]byte(env["MATRIX_BOTS"].(string)), &bots); err != nil || len(bots) != 1 {
		t.Fatalf("gateway MATRIX_BOTS is not a list of one bot: %v\n%v", err, env["MATRIX_BOTS"])
	}
	if bots[0]["login_password"] != "pw" || bots[0]["homeserver"] != "http://synapse:8008" {
		t.Errorf("MATRIX_BOTS[0] = %v: want the password from the environment and the compose Synapse", bots[0])
	}
	nb := services["nonebot"].(map[string]any)
	nbEnv, _ := nb["environment"].(map[string]any)
	if nbEnv["ONEBOT_ACCESS_TOKEN"] != "t0ken" {
		t.Errorf("nonebot ONEBOT_ACCESS_TOKEN = %v, want the gateway's token", nbEnv["ONEBOT_ACCESS_TOKEN"])
	}
	if want := "ws://127.0.0.1:" + nbEnv["PORT"].(string) + "/onebot/v11/ws"; !strings.Contains(env["MATRIX_BOTS"].(string), want) {
		t.Errorf("MATRIX_BOTS has no reverse WebSocket to the bot at %s", want)
	}

	// Without the secrets the file does not load: it never runs with an empty token.
	if _, stderr, err := compose(t, ctx, validator, file); err == nil || !strings.Contains(stderr, "GATEWAY_ACCESS_TOKEN") {
		t.Errorf("compose file without GATEWAY_ACCESS_TOKEN: err %v, stderr %q; want a refusal naming it", err, stderr)
	}
	// The check can fail: a key the compose spec does not have is refused.
	bad := filepath.Join(t.TempDir(), "compose.yaml")
	orig, _ := os.ReadFile(file)
	if err := os.WriteFile(bad, []byte(strings.Replace(string(orig), "    network_mode:", "    network_mod:", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := compose(t, ctx, validator, bad, "GATEWAY_ACCESS_TOKEN=t", "MATRIX_BOT_PASSWORD=p"); err == nil || !strings.Contains(stderr, "network_mod") {
		t.Errorf("a misspelt key passed the validator: err %v, stderr %q", err, stderr)
	}
}

// `go build ./...` without -tags goolm needs libolm's C headers (mautrix's crypto package picks
// libolm unless the tag is set, and no file of ours can choose for it), so the README gives the
// install line with the tag: it must build a working gateway.
func TestReadmeInstallLine(t *testing.T) {
	ctx := testCtx(t)
	readme, err := os.ReadFile(repoFile(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*go install -tags goolm (\S*cmd/gateway)@latest\s*$`)
	m := re.FindSubmatch(readme)
	if m == nil {
		t.Fatalf("README.md has no line `go install -tags goolm github.com/matrix-onebot/gateway/cmd/gateway@latest`")
	}
	if string(m[1]) != "github.com/matrix-onebot/gateway/cmd/gateway" {
		t.Errorf("README install line installs %s, not this module's cmd/gateway", m[1])
	}
	// The same line from the checkout (the module is not fetched from the network here).
	gobin := t.TempDir()
	cmd := exec.CommandContext(ctx, "go", "install", "-tags", "goolm", "./cmd/gateway")
	cmd.Dir = repoFile(t)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install -tags goolm ./cmd/gateway: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(gobin, "gateway"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gateway ") {
		t.Errorf("installed gateway version: %v\n%s", err, out)
	}
}

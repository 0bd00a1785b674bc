package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Bad configuration is reported all at once, naming what to set, with exit code 2.
func TestBadConfigReportedAtOnce(t *testing.T) {
	cmd := exec.Command(gatewayBin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		`MATRIX_BOTS=[{"homeserver":"ftp://x","access_token":"t","set_presence":"busy"},{"access_token":"t","acess_token":"typo"}]`,
		"MATRIX_SYNC_TIMEOUT=soon",
		"GATEWAY_LISTEN=0.0.0.0:5700",
		"GATEWAY_LOG_LEVEL=loud",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("exit: %v, want code 2; stderr:\n%s", err, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"MATRIX_BOTS[0].homeserver",
		"MATRIX_BOTS[0].set_presence",
		"MATRIX_BOTS[1].homeserver",
		`unknown key "acess_token"`,
		"MATRIX_SYNC_TIMEOUT",
		"GATEWAY_ACCESS_TOKEN",
		"GATEWAY_LOG_LEVEL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr does not name %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "panic") {
		t.Errorf("stderr shows a panic:\n%s", out)
	}
}

func TestCheckConfigAndVersion(t *testing.T) {
	out, err := exec.Command(gatewayBin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gateway ") {
		t.Fatalf("version: %v %s", err, out)
	}
	cmd := exec.Command(gatewayBin, "check-config")
	cmd.Env = []string{`MATRIX_BOTS=[{"homeserver":"http://127.0.0.1:1","access_token":"secret-token-value","user_id":"@b:localhost"}]`}
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration OK: 1 bot") {
		t.Fatalf("check-config: %v %s", err, out)
	}
	if strings.Contains(string(out), "secret-token-value") {
		t.Fatalf("check-config printed the access token:\n%s", out)
	}
}

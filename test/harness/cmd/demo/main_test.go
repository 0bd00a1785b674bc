package main

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/test/harness"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// GATEWAY_LISTEN and GATEWAY_ACCESS_TOKEN from the environment are the gateway's address and
// token in the demo (they used to be ignored); the flags win over them.
func TestDemoTakesListenAndTokenFromTheEnvironment(t *testing.T) {
	o, err := parseFlags(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != defaultListen || o.token != defaultToken || o.synapsePort != defaultSynapsePort {
		t.Fatalf("defaults: listen %q token %q port %d", o.listen, o.token, o.synapsePort)
	}
	vars := map[string]string{"GATEWAY_LISTEN": "127.0.0.1:5811", "GATEWAY_ACCESS_TOKEN": "from-env"}
	if o, err = parseFlags(nil, env(vars)); err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:5811" || o.token != "from-env" {
		t.Fatalf("from the environment: listen %q token %q", o.listen, o.token)
	}
	if o, err = parseFlags([]string{"-listen", "127.0.0.1:5812", "-port", "8010", "-token", "flag"}, env(vars)); err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:5812" || o.token != "flag" || o.synapsePort != 8010 {
		t.Fatalf("flags: listen %q token %q port %d", o.listen, o.token, o.synapsePort)
	}
	if _, err := parseFlags(nil, env(map[string]string{"GATEWAY_LISTEN": "5700"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_LISTEN") {
		t.Fatalf("a bad GATEWAY_LISTEN: %v, want an error naming it", err)
	}
	if _, err := parseFlags([]string{"-h"}, env(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

// `make demo DEMO_FLAGS=…` hands the flags to the demo (they used to work only through go run).
func TestMakeDemoPassesDemoFlags(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", "-n", "demo", "DEMO_FLAGS=-port 8009 -listen 127.0.0.1:5701")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n demo: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "demo-command -port 8009 -listen 127.0.0.1:5701") {
		t.Fatalf("make demo does not pass DEMO_FLAGS to the demo:\n%s", out)
	}
}

// The README's quickstart names the ports the demo uses and says how to change them.
func TestReadmeQuickstartNamesThePorts(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "## Quickstart")
	quick, _, _ := strings.Cut(rest, "\n## ")
	if !ok {
		t.Fatal("README.md has no Quickstart section")
	}
	quick = strings.Join(strings.Fields(quick), " ")
	for _, want := range []string{
		"127.0.0.1:" + strconv.Itoa(defaultSynapsePort), defaultListen, "`" + defaultToken + "`",
		"DEMO_FLAGS", "-port", "-listen", "GATEWAY_LISTEN",
	} {
		if !strings.Contains(quick, want) {
			t.Errorf("README.md's quickstart does not mention %s", want)
		}
	}
}

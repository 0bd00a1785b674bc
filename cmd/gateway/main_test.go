package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"gateway"}, args...), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

// `gateway COMMAND --help` shows help and exits 0, even with no configuration at all; it is
// not a configuration error.
func TestCommandHelpIsNotAConfigError(t *testing.T) {
	for _, args := range [][]string{
		{"login", "--help"}, {"login", "-h"}, {"logout", "--help"}, {"run", "--help"}, {"check-config", "-h"},
	} {
		code, out, errOut := runCmd(args...)
		if code != exitOK || !strings.Contains(out, "usage: gateway") || errOut != "" {
			t.Errorf("gateway %s: exit %d, stdout %q, stderr %q; want help on stdout and exit 0",
				strings.Join(args, " "), code, out, errOut)
		}
	}
	if _, out, _ := runCmd("login", "--help"); !strings.Contains(out, "gateway login BOT") {
		t.Errorf("gateway login --help does not explain BOT:\n%s", out)
	}
	// A real mistake is still one: login without a bot.
	if code, _, errOut := runCmd("login"); code != exitConfig || !strings.Contains(errOut, "usage: gateway login BOT") {
		t.Errorf("gateway login: exit %d, stderr %q", code, errOut)
	}
}

// `gateway help` lists every exit code with its meaning.
func TestHelpListsExitCodes(t *testing.T) {
	code, out, _ := runCmd("help")
	if code != exitOK {
		t.Fatalf("gateway help: exit %d", code)
	}
	if !strings.Contains(out, "exit codes:") {
		t.Fatalf("gateway help has no exit codes:\n%s", out)
	}
	for _, c := range []int{exitOK, exitFailure, exitConfig, exitStorage, exitListen, exitInternal} {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s+%d\s+\S`, c)).MatchString(out) {
			t.Errorf("gateway help does not explain exit code %d:\n%s", c, out)
		}
	}
}

package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

const exampleEnvFile = "../../deploy/gateway.env.example"

// readEnvFile reads a dotenv file the way docker compose and systemd do for
// the simple cases used here: KEY=VALUE lines, # comments, and values in
// single or double quotes, which may span lines.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var environ []string
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", path, i+1, line)
		}
		if q := val; len(q) > 0 && (q[0] == '\'' || q[0] == '"') {
			quote := q[:1]
			val = q[1:]
			for !strings.HasSuffix(val, quote) {
				i++
				if i == len(lines) {
					t.Fatalf("%s: unterminated quote for %s", path, key)
				}
				val += "\n" + lines[i]
			}
			val = strings.TrimSuffix(val, quote)
		}
		environ = append(environ, key+"="+val)
	}
	return environ
}

// TestExampleEnvFile keeps deploy/gateway.env.example in step with the code:
// it documents every variable and every bot key, and it loads.
func TestExampleEnvFile(t *testing.T) {
	data, err := os.ReadFile(exampleEnvFile)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, v := range Variables() {
		if !regexp.MustCompile(`(?m)^#? ?` + v + `=`).MatchString(text) {
			t.Errorf("%s does not show %s=", exampleEnvFile, v)
		}
	}
	for _, k := range BotKeys() {
		if !strings.Contains(text, `"`+k+`"`) {
			t.Errorf("%s does not document the bot key %q", exampleEnvFile, k)
		}
	}

	cfg := mustLoad(t, readEnvFile(t, exampleEnvFile))
	if len(cfg.Bots) == 0 || cfg.Bots[0].OneBotSelfID == 0 || len(cfg.Bots[0].OneBotV11ReverseWS) == 0 {
		t.Errorf("example bots = %v, want onebot_* fields shown", cfg.Bots)
	}
}

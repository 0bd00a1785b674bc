package gateway

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The README's compatibility tables list every action of the action table, each under its
// protocol version, and nothing the table lacks.
func TestReadmeListsEveryAction(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- actions:begin -->")
	section, _, ok2 := strings.Cut(rest, "<!-- actions:end -->")
	if !ok || !ok2 {
		t.Fatal("README.md lacks the <!-- actions:begin/end --> markers around the action tables")
	}
	v12part, v11part, ok := strings.Cut(section, "| v11 action |")
	if !ok {
		t.Fatal("README.md: no v11 action table after the v12 one")
	}
	listed := func(part string) map[string]bool {
		names := map[string]bool{}
		for _, line := range strings.Split(part, "\n") {
			if name, ok := strings.CutPrefix(line, "| `"); ok {
				if name, _, ok := strings.Cut(name, "`"); ok {
					names[name] = true
				}
			}
		}
		return names
	}
	for version, part := range map[int]string{12: v12part, 11: v11part} {
		names := listed(part)
		for _, a := range supportedActions(version) {
			if !names[a] {
				t.Errorf("README.md: v%d action %s is missing from the compatibility table", version, a)
			}
			delete(names, a)
		}
		for n := range names {
			t.Errorf("README.md: v%d action %s is listed but not in the action table", version, n)
		}
	}
}

// The README's client notes match the clients the tests pin: Koishi's broken stock `http` mode
// names the exact adapter and server plugin versions of test/clients/koishi and the protocols to
// use instead; the NoneBot v12 note shows the nested access that the NoneBot test plugin uses.
func TestReadmeClientNotes(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(raw)), " ")
	pkg, err := os.ReadFile("../../test/clients/koishi/package.json")
	if err != nil {
		t.Fatal(err)
	}
	var koishi struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(pkg, &koishi); err != nil {
		t.Fatal(err)
	}
	adapter, server := koishi.Dependencies["koishi-plugin-adapter-onebot"], koishi.Dependencies["@koishijs/plugin-server"]
	if adapter == "" || server == "" {
		t.Fatalf("test/clients/koishi/package.json pins no adapter-onebot or plugin-server: %v", koishi.Dependencies)
	}
	for _, want := range []string{
		"`koishi-plugin-adapter-onebot` " + adapter, "`@koishijs/plugin-server` " + server,
		"use the `ws` or `ws-reverse` protocol", "stock `http` protocol is broken upstream",
	} {
		if !strings.Contains(readme, want) {
			t.Errorf("README.md's Koishi note lacks %q", want)
		}
	}
	plugin, err := os.ReadFile("../../test/clients/nonebot/plugins/messages.py")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plugin), `seg.data.get("matrix", {}).get("url")`) {
		t.Fatal("the NoneBot test plugin no longer reads matrix.url nested: update this test and the README")
	}
	if !strings.Contains(readme, `seg.data["matrix"]["url"]`) {
		t.Error(`README.md does not say that NoneBot's v12 adapter nests matrix.* keys (seg.data["matrix"]["url"])`)
	}
}

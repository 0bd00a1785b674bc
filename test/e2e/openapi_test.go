package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/test/harness"
	"github.com/matrix-onebot/gateway/test/harness/tools"
)

// openAPITools installs (once) the pinned openapi-spec-validator and Schemathesis.
func openAPITools(t *testing.T) (tools.OpenAPITools, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), harness.StartTimeout)
	defer cancel()
	tools, err := tools.EnsureOpenAPITools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return tools, filepath.Join(root, "api", "openapi.yaml")
}

// api/openapi.yaml is a valid OpenAPI 3.1 document for a real validator (openapi-spec-validator),
// not just YAML that happens to parse.
func TestOpenAPISpecIsValid(t *testing.T) {
	tools, spec := openAPITools(t)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, tools.Validator, spec).CombinedOutput()
	if err != nil {
		t.Fatalf("openapi-spec-validator refuses api/openapi.yaml: %v\n%s", err, out)
	}
}

// Schemathesis sends a bounded number of generated requests to every operation of
// api/openapi.yaml on a gateway whose bot is logged into Synapse, and checks each answer against
// the spec: status code, content type, the response schema (v11 failures included), no 5xx, and
// for v12 the data of each ok answer against its action's x-onebot-data (testdata/onebot_checks.py).
func TestOpenAPIResponsesConformWithSchemathesis(t *testing.T) {
	tools, spec := openAPITools(t)
	dir := t.TempDir()
	bot := newBotUser(t)
	alice := newHuman(t, "alice")
	g := startGateway(t, dir, map[string]string{
		"MATRIX_BOTS":          botJSON(bot, map[string]any{"auto_accept_invites": true}),
		"GATEWAY_ACCESS_TOKEN": "e2e-token",
		"GATEWAY_LOG_LEVEL":    "info",
	})
	// A room, so that the list actions have something to describe, and messages flowing all
	// along, so that get_latest_events (which may wait up to 60 s for an event) answers soon.
	// Generated requests may well name this room (v11 group IDs are small numbers) and make the
	// bot leave it: alice then invites it back (it auto-accepts), which is more events.
	room := alice.roomWith(bot, false)
	alice.waitJoined(room, bot)
	alice.send(room, "hello")
	sendCtx, stopSending := context.WithCancel(context.Background())
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-sendCtx.Done():
				return
			case <-tick.C:
				var m event.MemberEventContent
				if err := alice.cli.StateEvent(sendCtx, room, event.StateMember, bot.UserID, &m); err == nil && m.Membership != event.MembershipJoin && m.Membership != event.MembershipInvite {
					if m.Membership == event.MembershipBan {
						_, _ = alice.cli.UnbanUser(sendCtx, room, &mautrix.ReqUnbanUser{UserID: id.UserID(bot.UserID)})
					}
					_, _ = alice.cli.InviteUser(sendCtx, room, &mautrix.ReqInviteUser{UserID: id.UserID(bot.UserID)})
				}
				_, _ = alice.cli.SendText(sendCtx, room, fmt.Sprintf("event %d", i))
			}
		}
	}()
	defer func() { stopSending(); <-sending }()

	// Real IDs for the hook that plants them in half the cases (testdata/onebot_checks.py).
	sent := g.actionV12("e2e-token", "send_message", map[string]any{"detail_type": "group", "group_id": string(room), "message": textMsg("for v12")})
	groups := actionV11(t, g, "e2e-token", "get_group_list", map[string]any{})
	groupList, _ := groups["data"].([]any)
	if sent["retcode"] != float64(0) || len(groupList) != 1 {
		t.Fatalf("setting up IDs: send_message %v, v11 get_group_list %v", sent, groups)
	}
	v11Group := groupList[0].(map[string]any)["group_id"]
	v11Sent := actionV11(t, g, "e2e-token", "send_group_msg", map[string]any{"group_id": v11Group, "message": "for v11"})
	members := actionV11(t, g, "e2e-token", "get_group_member_list", map[string]any{"group_id": v11Group})
	var v11Alice any
	memberList, _ := members["data"].([]any)
	for _, m := range memberList {
		if m := m.(map[string]any); m["matrix_user_id"] == alice.user.UserID {
			v11Alice = m["user_id"]
		}
	}
	v11Msg, _ := v11Sent["data"].(map[string]any)
	// A message of the bot's own for the Satori methods (message.update edits only those).
	var satoriSent []struct {
		ID string `json:"id"`
	}
	if st := satoriCallWith(t, g, "e2e-token", bot, "message.create", map[string]any{"channel_id": room, "content": "for satori"}, &satoriSent); st != 200 || len(satoriSent) != 1 {
		t.Fatalf("setting up IDs: Satori message.create: %d %v", st, satoriSent)
	}
	if v11Alice == nil || v11Msg == nil {
		t.Fatalf("setting up IDs: send_group_msg %v, members %v", v11Sent, members)
	}
	ids, _ := json.Marshal(map[string]any{
		"room": room, "user": alice.user.UserID, "event": sent["data"].(map[string]any)["message_id"],
		"v11_group": v11Group, "v11_user": v11Alice, "v11_message": v11Msg["message_id"],
		"bot": bot.UserID, "bot_event": satoriSent[0].ID,
	})

	hooks, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tools.Schemathesis, "run", spec,
		"--url", g.url,
		"--header", "Authorization: Bearer e2e-token",
		"--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,onebot_v12_data,satori_ok",
		"--phases", "examples,coverage,fuzzing",
		"--max-examples", "6",
		"--seed", "1",
		"--workers", "1", // hypothesis is not thread-safe in every path (seen: "AST constructor recursion depth mismatch")
		"--request-timeout", "30",
		"--suppress-health-check", "all",
		"--continue-on-failure",
		"--no-shrink",
	)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SCHEMATHESIS_HOOKS=onebot_checks",
		"PYTHONPATH="+hooks,
		"ONEBOT_OPENAPI_SPEC="+spec,
		"ONEBOT_IDS="+string(ids),
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Schemathesis failed (answers that do not match api/openapi.yaml, or errors): %v\n%s", err, out)
	}
	// The run must have exercised every operation, not skipped them.
	ops := regexp.MustCompile(`Selected: (\d+)/(\d+)\s+Tested: (\d+)`).FindStringSubmatch(string(out))
	if ops == nil || ops[1] != ops[2] || ops[3] != ops[1] {
		t.Fatalf("Schemathesis did not test every operation:\n%s", out)
	}
	if cases := regexp.MustCompile(`(\d+) generated`).FindStringSubmatch(string(out)); cases == nil || len(cases[1]) < 2 {
		t.Fatalf("Schemathesis generated too few test cases:\n%s", out)
	}
	// And checked the data of ok answers of many v12 actions, not only of those without params.
	checked := regexp.MustCompile(`onebot_v12_data: checked the data of ok answers of (\d+) actions: (.*)`).FindStringSubmatch(string(out))
	if checked == nil {
		t.Fatalf("the onebot_v12_data hook did not report:\n%s", out)
	}
	if n, _ := strconv.Atoi(checked[1]); n < 12 {
		t.Fatalf("ok answers of only %d v12 actions were checked (%s): the real IDs did not reach the actions", n, checked[2])
	}
	// And Satori methods answered 200 (their bodies checked against the document), not only
	// errors: the real IDs reached them.
	satoriOK := regexp.MustCompile(`satori_ok: ok answers of (\d+) methods: (.*)`).FindStringSubmatch(string(out))
	if satoriOK == nil {
		t.Fatalf("the satori_ok hook did not report:\n%s", out)
	}
	if n, _ := strconv.Atoi(satoriOK[1]); n < 10 {
		t.Fatalf("only %d Satori methods answered 200 (%s): the real IDs did not reach them", n, satoriOK[2])
	}
	t.Logf("%s\n%s\n%s", lastLines(string(out), 15), checked[0], satoriOK[0])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

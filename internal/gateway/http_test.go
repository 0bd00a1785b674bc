package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

func post(t *testing.T, srv *httptest.Server, path, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: response is not a JSON object: %s", path, raw)
	}
	return resp.StatusCode, out
}

var bearer = map[string]string{"Authorization": "Bearer " + testToken}

func TestHTTPAccessToken(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	body := `{"action":"get_version"}`
	for _, tc := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"missing", "/onebot/v12/", nil, http.StatusUnauthorized},
		{"wrong", "/onebot/v12/", map[string]string{"Authorization": "Bearer nope"}, http.StatusForbidden},
		{"malformed", "/onebot/v12/", map[string]string{"Authorization": "Basic xyz"}, http.StatusForbidden},
		{"bearer", "/onebot/v12/", bearer, http.StatusOK},
		{"token scheme", "/onebot/v12/", map[string]string{"Authorization": "Token " + testToken}, http.StatusOK},
		{"query", "/onebot/v12/?access_token=" + url.QueryEscape(testToken), nil, http.StatusOK},
		{"query wrong", "/onebot/v12/?access_token=x", nil, http.StatusForbidden},
		{"v11 missing", "/onebot/v11/get_version_info", nil, http.StatusUnauthorized},
		{"v11 ok", "/onebot/v11/get_version_info", bearer, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := post(t, srv, tc.path, body, tc.hdr)
			if code != tc.want {
				t.Fatalf("status %d, want %d", code, tc.want)
			}
		})
	}
	// Health endpoints need no token.
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
}

func TestV12ActionsOverHTTP(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	// echo comes back verbatim, whatever its JSON type.
	for _, echo := range []string{`123`, `"abc"`, `{"a":[1,2]}`, `[1,"x"]`, `null`, `1.5e3`} {
		_, resp := post(t, srv, "/onebot/v12/", `{"action":"get_version","params":{},"echo":`+echo+`}`, nil)
		got, _ := json.Marshal(resp["echo"])
		var want any
		_ = json.Unmarshal([]byte(echo), &want)
		wantB, _ := json.Marshal(want)
		if string(got) != string(wantB) {
			t.Errorf("echo %s came back as %s", echo, got)
		}
	}
	for _, tc := range []struct {
		body    string
		retcode float64
	}{
		{`{"action":"no_such_action","params":{}}`, v12UnsupportedAction},
		{`{"action":"send_message","params":{"detail_type":"group","group_id":5,"message":[]}}`, v12BadParam},
		{`{"action":"send_message","params":{"detail_type":"group","group_id":"not-a-room","message":"hi"}}`, v12BadParam},
		{`{"action":"send_message","params":{"detail_type":"channel","message":"hi"}}`, v12UnsupportedParam},
		{`{"action":"send_message","params":{"detail_type":"group","group_id":"!r:x","message":[{"type":"face","data":{}}]}}`, v12UnsupportedSegment},
		{`{"action":"send_message","params":{"detail_type":"group","group_id":"!r:x","message":[{"type":"text","data":{"text":5}}]}}`, v12BadSegmentData},
		{`{"action":"get_self_info","self":{"platform":"matrix","user_id":"@nobody:x"}}`, v12UnknownSelf},
		{`{"action":"get_self_info","self":{"platform":"qq","user_id":"@bot:example.org"}}`, v12UnknownSelf},
		{`not json`, v12BadRequest},
		{`{"params":{}}`, v12BadRequest},
	} {
		code, resp := post(t, srv, "/onebot/v12/", tc.body, nil)
		if code != http.StatusOK || resp["retcode"] != tc.retcode || resp["status"] != "failed" {
			t.Errorf("%s: got %d %v, want retcode %v", tc.body, code, resp, tc.retcode)
		}
		for _, k := range []string{"status", "retcode", "data", "message"} {
			if _, ok := resp[k]; !ok {
				t.Errorf("%s: response lacks %q: %v", tc.body, k, resp)
			}
		}
	}

	_, resp := post(t, srv, "/onebot/v12/", `{"action":"send_message","params":{"detail_type":"group","group_id":"!room:example.org","message":[{"type":"text","data":{"text":"hi"}},{"type":"mention","data":{"user_id":"@alice:example.org"}}]}}`, nil)
	if resp["retcode"] != float64(0) {
		t.Fatalf("send_message: %v", resp)
	}
	data := resp["data"].(map[string]any)
	sent := bot.Sent()
	if len(sent) != 1 || sent[0].To.RoomID != "!room:example.org" || string(sent[0].EventID) != data["message_id"] || len(sent[0].Segments) != 2 {
		t.Fatalf("bot got %#v, response %v", sent, data)
	}
	_, resp = post(t, srv, "/onebot/v12/", `{"action":"send_message","params":{"detail_type":"private","user_id":"@alice:example.org","message":"yo"}}`, nil)
	if resp["retcode"] != float64(0) || bot.Sent()[1].To.UserID != "@alice:example.org" {
		t.Fatalf("private send_message: %v %#v", resp, bot.Sent())
	}

	// A homeserver refusal carries the Matrix errcode.
	bot.Control.FailSendsWith(&model.ActionError{Kind: model.ErrPlatform, Message: "failed to send message: not in room", MatrixErr: "M_FORBIDDEN"})
	_, resp = post(t, srv, "/onebot/v12/", `{"action":"send_message","params":{"detail_type":"group","group_id":"!room:example.org","message":"x"}}`, nil)
	if resp["retcode"] != float64(v12PlatformRefused) || !strings.Contains(resp["message"].(string), "M_FORBIDDEN") {
		t.Fatalf("refusal: %v", resp)
	}

	_, resp = post(t, srv, "/onebot/v12/", `{"action":"get_supported_actions"}`, nil)
	names := resp["data"].([]any)
	if len(names) != len(supportedActions(12)) {
		t.Fatalf("get_supported_actions: %v", names)
	}
	_, resp = post(t, srv, "/onebot/v12/", `{"action":"get_self_info"}`, nil)
	if resp["data"].(map[string]any)["user_id"] != "@bot:example.org" {
		t.Fatalf("get_self_info: %v", resp)
	}
}

func TestV12NeedsSelfWithSeveralBots(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	h.AddBot(newSecondBot(), 10002)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	_, resp := post(t, srv, "/onebot/v12/", `{"action":"get_self_info"}`, nil)
	if resp["retcode"] != float64(v12WhoAmI) {
		t.Fatalf("without self: %v", resp)
	}
	_, resp = post(t, srv, "/onebot/v12/", `{"action":"get_self_info","self":{"platform":"matrix","user_id":"@bot2:example.org"}}`, nil)
	if resp["data"].(map[string]any)["user_id"] != "@bot2:example.org" {
		t.Fatalf("with self: %v", resp)
	}
	// v11 over HTTP needs the self_id in the path when several bots are served.
	code, _ := post(t, srv, "/onebot/v11/get_login_info", `{}`, nil)
	if code != http.StatusNotFound {
		t.Fatalf("v11 without self_id: %d", code)
	}
	_, resp = post(t, srv, "/onebot/v11/10002/get_login_info", `{}`, nil)
	if resp["data"].(map[string]any)["user_id"] != float64(10002) {
		t.Fatalf("v11 with self_id: %v", resp)
	}
}

func TestV11ActionsOverHTTP(t *testing.T) {
	h, bot, db := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ctx := context.Background()
	room, _ := db.IDs().V11ID(ctx, storage.KindRoom, "!room:example.org")
	alice, _ := db.IDs().V11ID(ctx, storage.KindUser, "@alice:example.org")

	code, resp := post(t, srv, "/onebot/v11/no_such_action", `{}`, nil)
	if code != http.StatusNotFound || resp["retcode"] != float64(v11UnsupportedAction) {
		t.Fatalf("unknown action: %d %v", code, resp)
	}
	_, resp = post(t, srv, "/onebot/v11/send_group_msg", `{"group_id":"`+itoa(room)+`","message":[{"type":"text","data":{"text":"hi "}},{"type":"at","data":{"qq":"`+itoa(alice)+`"}}]}`, nil)
	if resp["status"] != "ok" {
		t.Fatalf("send_group_msg: %v", resp)
	}
	sent := bot.Sent()[0]
	if sent.To.RoomID != "!room:example.org" || sent.Segments[1] != model.Segment(model.Mention{User: "@alice:example.org"}) {
		t.Fatalf("sent %#v", sent)
	}
	// message_id maps back to the Matrix event through the persistent map.
	mid := int64(resp["data"].(map[string]any)["message_id"].(float64))
	if e, err := db.IDs().MatrixID(ctx, storage.KindEvent, mid); err != nil || e != string(sent.EventID) {
		t.Fatalf("message_id %d → %q, %v", mid, e, err)
	}

	// GET with query params, and a form POST.
	r, err := http.Get(srv.URL + "/onebot/v11/send_private_msg?user_id=" + itoa(alice) + "&message=" + url.QueryEscape("[CQ:at,qq=all] yo"))
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", r, err)
	}
	r.Body.Close()
	if got := bot.Sent()[1]; got.To.UserID != "@alice:example.org" || got.Segments[0] != model.Segment(model.MentionAll{}) {
		t.Fatalf("GET sent %#v", got)
	}
	r, err = http.PostForm(srv.URL+"/onebot/v11/send_msg", url.Values{"message_type": {"group"}, "group_id": {itoa(room)}, "message": {"form"}})
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("form: %v %v", r, err)
	}
	r.Body.Close()

	_, resp = post(t, srv, "/onebot/v11/send_group_msg", `{"group_id":99999,"message":"x"}`, nil)
	if resp["status"] != "failed" || resp["retcode"] != float64(v11Failed) {
		t.Fatalf("unknown group: %v", resp)
	}
	_, resp = post(t, srv, "/onebot/v11/send_group_msg", `{"group_id":"abc","message":"x"}`, nil)
	if resp["retcode"] != float64(v11BadRequest) {
		t.Fatalf("bad group_id: %v", resp)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/onebot/v11/get_status", strings.NewReader("x"))
	req.Header.Set("Content-Type", "text/plain")
	r, _ = http.DefaultClient.Do(req)
	if r.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("text/plain: %d", r.StatusCode)
	}
	r.Body.Close()
	_, resp = post(t, srv, "/onebot/v11/get_login_info", ``, nil)
	if resp["data"].(map[string]any)["user_id"] != float64(10001) {
		t.Fatalf("get_login_info: %v", resp)
	}
}

func TestReadyz(t *testing.T) {
	h, bot, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func() (int, ReadyReport) {
		r, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var rep ReadyReport
		_ = json.NewDecoder(r.Body).Decode(&rep)
		return r.StatusCode, rep
	}
	if code, rep := get(); code != http.StatusOK || !rep.Ready {
		t.Fatalf("syncing bot: %d %+v", code, rep)
	}
	bot.Control.SetStatus(model.BotStatus{State: model.StateBackoff, Reason: "homeserver unreachable: connection refused"})
	code, rep := get()
	if code != http.StatusServiceUnavailable || rep.Bots[0].State != "backoff" || !strings.Contains(rep.Bots[0].Reason, "unreachable") {
		t.Fatalf("degraded bot: %d %+v", code, rep)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

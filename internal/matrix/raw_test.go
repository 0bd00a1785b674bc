package matrix

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

// matrix.raw_request hands over the homeserver's answer also when it is an error: the status and
// the body with its errcode and error, not an empty body.
func TestRawRequestReturnsTheHomeserverError(t *testing.T) {
	h := newHarness(t)
	s := h.session(t, newRecordingSink(), nil)
	resp, err := rawAPI(t, s).RawRequest(context.Background(), model.RawRequest{Method: "GET", Path: "/_matrix/client/v3/rooms/!nope:x/state"})
	if err != nil {
		t.Fatalf("RawRequest: %v", err)
	}
	if resp.Status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.Status)
	}
	var body struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		t.Fatalf("body %s: %v", resp.Body, err)
	}
	if body.ErrCode != "M_UNRECOGNIZED" || body.Error == "" {
		t.Fatalf("body %s: want the homeserver's errcode M_UNRECOGNIZED and its error", resp.Body)
	}
}

// rawAPI is the bot's raw API, as the hub finds it: a facet of the Bot.
func rawAPI(t *testing.T, s *Session) model.RawAPI {
	t.Helper()
	r, ok := model.As[model.RawAPI](s.Bot())
	if !ok {
		t.Fatal("the bot serves no model.RawAPI")
	}
	return r
}

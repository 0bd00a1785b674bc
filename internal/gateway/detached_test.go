package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// A v11 _async / _rate_limited action keeps its params after the request is answered, until it
// has run: they count in GATEWAY_MAX_BYTES_IN_FLIGHT like a request being handled, so pipelined
// background actions cannot hold more than the process allows (issue 8 item 10); past it they
// are refused.
func TestDetachedActionsCountInFlight(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	const budget = 2 << 20
	h.inflight = web.NewBudget(budget, 100*time.Millisecond)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	pad := strings.Repeat("x", 400<<10)
	body := `{"pad":"` + pad + `"}`
	accepted, refused := 0, 0
	for range 12 { // _rate_limited runs one a second: the later ones wait, holding their params
		resp, err := http.Post(srv.URL+"/onebot/v11/get_status_rate_limited", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var r v11Response
		_ = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK && r.Status == "async":
			accepted++
		case resp.StatusCode == http.StatusServiceUnavailable || r.Status == "failed":
			refused++
		default:
			t.Fatalf("answer %d %+v", resp.StatusCode, r)
		}
	}
	if held := int64(accepted) * int64(len(body)); held > budget || refused == 0 || accepted == 0 {
		t.Fatalf("%d background actions accepted (%d bytes of params held, the process allows %d), %d refused",
			accepted, held, budget, refused)
	}
}

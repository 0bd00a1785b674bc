package calls

import (
	"strings"
	"testing"
)

// Webhook replies come from the endpoint: decoding never panics, and what it accepts has actions.
func FuzzDecodeWebhookActions(f *testing.F) {
	for _, s := range []string{``, `[]`, `[{"action":"get_status"}]`, `{"action":"x","params":{}}`, `[{"params":1}]`, `"x"`, `[null]`, `{`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reqs, err := decodeWebhookActions(body)
		if err != nil {
			return
		}
		for _, r := range reqs {
			if r.Action == "" {
				t.Fatalf("accepted a request without action from %q", body)
			}
		}
	})
}

func TestDecodeWebhookActions(t *testing.T) {
	for _, tc := range []struct {
		body string
		n    int
		ok   bool
	}{
		{``, 0, true},
		{`[]`, 0, true},
		{`[{"action":"get_status"},{"action":"get_version","params":{}}]`, 2, true},
		{`{"action":"get_status"}`, 1, true},
		{`[{"params":{}}]`, 0, false},
		{`"get_status"`, 0, false},
		{`[1,2]`, 0, false},
		{`[` + strings.Repeat(`{"action":"get_status"},`, maxWebhookReplyActions) + `{"action":"get_status"}]`, 0, false},
		{`[{"action":"` + strings.Repeat("x", 101) + `"}]`, 0, false},
	} {
		reqs, err := decodeWebhookActions([]byte(tc.body))
		if (err == nil) != tc.ok || len(reqs) != tc.n {
			t.Errorf("%s: %d requests, error %v; want %d, ok=%t", tc.body, len(reqs), err, tc.n, tc.ok)
		}
	}
}

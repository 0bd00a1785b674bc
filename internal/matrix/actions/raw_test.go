package actions

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

// The room of a message is found in the message index; the path of a raw request stays under
// /_matrix/client/.
func TestCheckRawRequest(t *testing.T) {
	for _, tc := range []struct {
		req model.RawRequest
		ok  bool
	}{
		{model.RawRequest{Path: "/_matrix/client/v3/account/whoami"}, true},
		{model.RawRequest{Method: "put", Path: "/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1", Body: json.RawMessage(`{"body":"x"}`)}, true},
		{model.RawRequest{Path: "/_synapse/admin/v1/users"}, false},
		{model.RawRequest{Path: "/_matrix/client/../../_synapse/admin/v1/users"}, false},
		{model.RawRequest{Path: "/_matrix/client/%2e%2e/%2e%2e/_synapse/admin"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3/x%2Fy"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3/sync?since=x"}, false},
		{model.RawRequest{Path: "/_matrix/client/v3\\..\\x"}, false},
		{model.RawRequest{Path: "/_matrix/media/v3/download/x/y"}, false},
		{model.RawRequest{Method: "PATCH", Path: "/_matrix/client/v3/x"}, false},
		{model.RawRequest{Method: "POST", Path: "/_matrix/client/v3/x", Body: json.RawMessage(`{`)}, false},
	} {
		_, err := checkRawRequest(tc.req)
		if (err == nil) != tc.ok {
			t.Errorf("%+v: got %v, want ok=%v", tc.req, err, tc.ok)
		}
		if err != nil && model.KindOf(err) != model.ErrBadParam {
			t.Errorf("%+v: error kind %v, want bad param", tc.req, model.KindOf(err))
		}
	}
}

// A raw request path comes from an untrusted client: whatever passes the check resolves to a
// path under /_matrix/client/ on the homeserver.
func FuzzCheckRawRequest(f *testing.F) {
	for _, s := range []string{"/_matrix/client/v3/sync", "/_matrix/client/../x", "/_matrix/client/%2E%2E/x", "/_matrix/client//x", "/_matrix/client/v3/a/./b"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		if _, err := checkRawRequest(model.RawRequest{Method: method, Path: path}); err != nil {
			return
		}
		clean := filepath.Clean(path)
		if !strings.HasPrefix(clean+"/", rawPathPrefix) {
			t.Fatalf("%q passed the check but resolves to %q", path, clean)
		}
	})
}

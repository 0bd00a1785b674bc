package v11

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Requests come from untrusted clients: decoding never panics, and what it refuses is answered
// with a well-formed failure.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"action":"send_msg","params":{"group_id":1,"message":"[CQ:at,qq=1]x"}}`, `{"action":"get_status","echo":{"a":[1]}}`,
		`{`, `[]`, `{"action":1}`, "{\"action\":\"get_status\",\"echo\":[\"\xc3\"]}", `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, bad := DecodeRequest(raw)
		if (req == nil) == (bad == nil) {
			t.Fatalf("want a request or an answer, got %v and %v", req, bad)
		}
		if req != nil {
			if req.Action == "" {
				t.Fatal("a request without an action")
			}
			return
		}
		out := face.MustJSON(bad)
		if !utf8.Valid(out) || !json.Valid(out) || bad.Status != "failed" || bad.Retcode != RetBadRequest || bad.Msg == "" {
			t.Fatalf("answer %s", out)
		}
	})
}

// A handler's own code wins; model error kinds map to go-cqhttp's retcodes.
func TestRetcode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{model.Errorf(model.ErrBadParam, "x"), RetBadRequest},
		{model.Errorf(model.ErrNotFound, "x"), RetFailed},
		{errors.New("boom"), RetFailed},
		{coded{}, RetUnsupportedAction},
	} {
		if code, _ := Retcode(tc.err); code != tc.code {
			t.Errorf("%v: %d, want %d", tc.err, code, tc.code)
		}
	}
}

type coded struct{}

func (coded) Error() string   { return "unsupported" }
func (coded) V11Retcode() int { return RetUnsupportedAction }

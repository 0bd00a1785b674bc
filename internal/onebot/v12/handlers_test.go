package v12

import (
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

// FuzzDecodeMessage: send_message's message param (a client's, untrusted) never panics the
// decoder; a message it takes has at least one segment, and a refusal is a param or segment
// error (a bad-param retcode), never an internal one.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`"hi"`, `[{"type":"text","data":{"text":"x"}}]`, `[]`, `null`, `""`, `[{"type":"mention","data":{"user_id":"@a:b"}}]`,
		`{"type":"text"}`, `"\ud800"`, `[{"type":"image","data":{"file_id":1}}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		segs, err := DecodeMessage(raw)
		if err != nil {
			switch model.KindOf(err) {
			case model.ErrBadParam, model.ErrUnsupportedSegment, model.ErrBadSegmentData:
			default:
				t.Fatalf("%q: refused with %v (kind %v), want a param or segment error", raw, err, model.KindOf(err))
			}
			return
		}
		if len(segs) == 0 {
			t.Fatalf("%q: taken with no segment", raw)
		}
	})
}

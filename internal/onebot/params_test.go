package onebot

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/model"
)

func FuzzTxnKey(f *testing.F) {
	for _, s := range []string{`"k"`, `42`, `-1.5e3`, `null`, `""`, `{"a":1}`, `"\ud800"`, `[1]`, `1e999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var k TxnKey
		if err := json.Unmarshal(b, &k); err != nil {
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if !utf8.ValidString(string(k)) { // json.Unmarshal makes invalid UTF-8 U+FFFD
			t.Fatalf("key %q is not UTF-8", k)
		}
	})
}

// A send's idempotency digest is the same from both faces and the same as before it moved here
// from the v12 face (a key stored within its 24 hours must still match a retried send): the
// vector is the digest the v12 face computed.
func TestSendIdempotencyDigestIsStable(t *testing.T) {
	md := true
	segs := []model.Segment{model.Text{Text: "hi <b>"}, model.Mention{User: "@a:x"}, model.MentionAll{}, model.Reply{Event: "$e", Sender: "@b:x"},
		model.Media{Kind: model.MediaImage, Source: "https://example.org/a.png"},
		model.Media{Kind: model.MediaFile, File: model.FileInfo{ID: "f1", Name: "a.txt", MimeType: "text/plain", Size: 3}, URL: "http://gw/f1"},
		model.Location{Latitude: 1.5, Longitude: -2, Title: "t", Content: "c"}}
	const want = "5c974c8b2587e51dd14479295eef6190c4022f6bd40c0ca8bab16458711a093a"
	for _, v := range []int{11, 12} {
		got, err := SendIdempotency(&Call{Version: v}, "k1", model.Target{RoomID: "!r:x", UserID: "@u:x"}, segs, model.SendOptions{MsgType: "m.notice", Markdown: &md})
		if err != nil || got == nil || got.Key != "k1" || got.Hash != want {
			t.Errorf("v%d: SendIdempotency = %+v, %v; want key k1, hash %s", v, got, err, want)
		}
	}
	if got, err := SendIdempotency(&Call{Version: 12}, "", model.Target{RoomID: "!r:x"}, segs, model.SendOptions{}); got != nil || err != nil {
		t.Errorf("without a key: %+v, %v; want nil, nil", got, err)
	}
}

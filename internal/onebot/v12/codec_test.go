package v12

import (
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/test/vectors"
)

func TestEncodeV12Events(t *testing.T) {
	for _, tc := range []struct {
		name   string
		direct bool
	}{{"v12_message_group.json", false}, {"v12_message_private.json", true}} {
		b, err := EncodeEvent(vectors.SampleMessage(tc.direct))
		if err != nil {
			t.Fatal(err)
		}
		vectors.Golden(t, tc.name, b)
	}
}

func TestEncodeV12Notices(t *testing.T) {
	for name, ev := range vectors.NoticeSamples() {
		b, err := EncodeEvent(ev)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vectors.Golden(t, "v12_notice_"+name+".json", b)
	}
}

// A replayed frame is marked once: marking it again (replayed from an outbox) changes nothing.
func TestMarkReplayedOnce(t *testing.T) {
	f := New("test")
	b, err := f.Encode(vectors.SampleMessage(false), nil)
	if err != nil {
		t.Fatal(err)
	}
	once := f.MarkReplayed(b)
	if strings.Count(string(once), `"matrix.replayed":true`) != 1 {
		t.Fatalf("not marked: %s", once)
	}
	if again := f.MarkReplayed(once); string(again) != string(once) {
		t.Fatalf("marked twice: %s", again)
	}
}

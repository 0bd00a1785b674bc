package gateway

import (
	"context"
	"testing"

	"github.com/matrix-onebot/gateway/test/vectors"
)

func TestEncodeV11Notices(t *testing.T) {
	for name, ev := range vectors.NoticeSamples() {
		db := newTestDB(t)
		seedIDs(t, db)
		b, err := encodeV11Event(context.Background(), db, 10001, ev, false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vectors.Golden(t, "v11_notice_"+name+".json", b)
	}
}

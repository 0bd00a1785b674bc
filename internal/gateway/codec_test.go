package gateway

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/vectors"
)

func golden(t *testing.T, name string, got []byte) { t.Helper(); vectors.Golden(t, name, got) }

func sampleEvent(direct bool) *model.Event { return vectors.SampleMessage(direct) }

// seedIDs fixes the v11 numbers so that the golden files do not depend on map order.
func seedIDs(t *testing.T, db *storage.DB) {
	ctx := context.Background()
	for _, x := range []struct {
		k  storage.IDKind
		id string
	}{
		{storage.KindUser, "@bot:example.org"}, {storage.KindUser, "@alice:example.org"}, {storage.KindUser, "@bob:example.org"},
		{storage.KindRoom, "!room:example.org"}, {storage.KindEvent, "$ev0:example.org"}, {storage.KindEvent, "$ev1:example.org"},
	} {
		if _, err := db.IDs().V11ID(ctx, x.k, x.id); err != nil {
			t.Fatal(err)
		}
	}
}

// The v11 codec maps a client's segments back to Matrix IDs through the same persistent map.
func TestFromV11Segments(t *testing.T) {
	db := newTestDB(t)
	seedIDs(t, db)
	ctx := context.Background()
	segs, err := ob11.DecodeMessage(json.RawMessage(`"[CQ:reply,id=1][CQ:at,qq=2] hello &#91;x&#93;[CQ:at,qq=all]"`), false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ob11.FromSegments(ctx, v11IDs{db.IDs()}, ob11.Self{}, segs)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ob12.EncodeSegments(got)) // the neutral segments in their {type, data} form
	golden(t, "v11_segments_from_client.json", b)

	if _, err := ob11.FromSegments(ctx, v11IDs{db.IDs()}, ob11.Self{}, []v11Segment{{Type: "at", Data: map[string]any{"qq": "999"}}}); model.KindOf(err) != model.ErrNotFound {
		t.Fatalf("unknown user: got %v, want a not-found error", err)
	}
	if _, err := ob11.FromSegments(ctx, v11IDs{db.IDs()}, ob11.Self{}, []v11Segment{{Type: "face", Data: map[string]any{"id": "1"}}}); model.KindOf(err) != model.ErrUnsupportedSegment {
		t.Fatalf("face: got %v, want unsupported segment", err)
	}
	plain, err := ob11.DecodeMessage(json.RawMessage(`"[CQ:at,qq=2]"`), true)
	if err != nil || len(plain) != 1 || plain[0].Type != "text" {
		t.Fatalf("auto_escape: got %#v, %v", plain, err)
	}
}

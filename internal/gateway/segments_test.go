package gateway

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/test/segments"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// segOutVector is one testdata/segments_out/*.json file: neutral segments (as the Matrix side
// makes them) → what a v11 client gets as an array and as a CQ string, and what a v12 client gets.
// The bot is @bot:example.org with self_id 10001; seedIDs numbers the other IDs.
type segOutVector struct {
	Description string         `json:"description"`
	Segments    []ob12.Segment `json:"segments"` // in OneBot v12 form, as test/segments reads them
	Want        *segOutWant    `json:"want,omitempty"`
}

type segOutWant struct {
	V11 json.RawMessage `json:"v11"`
	CQ  string          `json:"cq"`
	V12 json.RawMessage `json:"v12"`
}

// segInVector is one testdata/segments_in/*.json file: a message from a client (v11 array, v11 CQ
// string or v12 array; one of them) → neutral segments, or the error kind.
type segInVector struct {
	Description string          `json:"description"`
	V11         json.RawMessage `json:"v11,omitempty"`
	CQ          *string         `json:"cq,omitempty"`
	V12         json.RawMessage `json:"v12,omitempty"`
	Want        *segInWant      `json:"want,omitempty"`
}

type segInWant struct {
	Segments json.RawMessage `json:"segments,omitempty"`
	Error    string          `json:"error,omitempty"`
}

var testSelf = ob11.Self{User: "@bot:example.org", SelfID: 10001}

// toV11Segments numbers the segments' Matrix IDs in db, then converts them (as the fan-out does).
func toV11Segments(t testing.TB, db IDMapper, self ob11.Self, segs []model.Segment) ([]v11Segment, error) {
	t.Helper()
	ids, err := ob11.ResolveSegments(context.Background(), v11IDs{db}, self, segs)
	if err != nil {
		return nil, err
	}
	return ob11.ToSegments(ob11.Numbers{IDs: ids, Self: self.User, SelfID: self.SelfID}, segs)
}

func fromV11SegmentsAs(ctx context.Context, db IDMapper, self ob11.Self, segs []v11Segment) ([]model.Segment, error) {
	return ob11.FromSegments(ctx, v11IDs{db}, self, segs)
}

func TestSegmentsOutVectors(t *testing.T) {
	db := newTestDB(t)
	seedIDs(t, db)
	vectors.Each(t, "segments_out", func(t *testing.T, path string, raw []byte) {
		var v segOutVector
		vectors.DecodeStrict(t, raw, &v)
		segs := segments.Read(t, v.Segments)
		v11, err := toV11Segments(t, db.IDs(), testSelf, segs)
		if err != nil {
			t.Fatal(err)
		}
		got := &segOutWant{V11: vectors.Marshal(t, v11), CQ: ob11.SegmentsToCQ(v11), V12: vectors.Marshal(t, ob12.EncodeSegments(segs))}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		vectors.AssertSameJSON(t, "v11", v.Want.V11, got.V11)
		vectors.AssertSameJSON(t, "v12", v.Want.V12, got.V12)
		if got.CQ != v.Want.CQ {
			t.Errorf("cq = %q, want %q", got.CQ, v.Want.CQ)
		}
		// A CQ string parses back to the same v11 segments.
		back, err := ob11.ParseCQ(got.CQ)
		if err != nil {
			t.Fatalf("cq does not parse back: %v", err)
		}
		vectors.AssertSameJSON(t, "cq parsed back", got.V11, vectors.Marshal(t, back))
	})
}

func TestSegmentsInVectors(t *testing.T) {
	db := newTestDB(t)
	seedIDs(t, db)
	vectors.Each(t, "segments_in", func(t *testing.T, path string, raw []byte) {
		var v segInVector
		vectors.DecodeStrict(t, raw, &v)
		var segs []model.Segment
		var err error
		switch {
		case v.V11 != nil:
			var v11 []v11Segment
			if v11, err = ob11.DecodeMessage(v.V11, false); err == nil {
				segs, err = fromV11SegmentsAs(context.Background(), db.IDs(), testSelf, v11)
			}
		case v.CQ != nil:
			var v11 []v11Segment
			if v11, err = ob11.DecodeMessage(vectors.Marshal(t, *v.CQ), false); err == nil {
				segs, err = fromV11SegmentsAs(context.Background(), db.IDs(), testSelf, v11)
			}
		default:
			segs, err = ob12.DecodeMessage(v.V12)
		}
		got := &segInWant{}
		if err != nil {
			got.Error = vectors.ErrorKind(t, err)
		} else {
			got.Segments = vectors.Marshal(t, ob12.EncodeSegments(segs))
		}
		if vectors.Settle(t, path, &v, &v.Want, got) {
			return
		}
		if got.Error != v.Want.Error {
			t.Fatalf("error = %q (%v), want %q", got.Error, err, v.Want.Error)
		}
		if got.Error == "" {
			vectors.AssertSameJSON(t, "segments", v.Want.Segments, got.Segments)
		}
	})
}

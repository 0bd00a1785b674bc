package satori

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
	"github.com/matrix-onebot/gateway/internal/satori/element"
	"github.com/matrix-onebot/gateway/test/segments"
	"github.com/matrix-onebot/gateway/test/vectors"
)

// The conversion between Satori elements and the neutral segments (convert.go); the element
// markup itself is tested in package element.

func TestToMatrixVectors(t *testing.T) {
	var vec struct {
		About string `json:"about"`
		Cases []struct {
			Name     string         `json:"name"`
			Content  string         `json:"content"`
			Segments []ob12.Segment `json:"segments"` // the neutral segments, in OneBot v12 form
		} `json:"cases"`
		Errors []vectors.ContentError `json:"errors"`
	}
	vectors.ReadFile(t, "to_matrix.json", &vec)
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			els, err := element.Parse(c.Content)
			if err != nil {
				t.Fatal(err)
			}
			segs, err := Segments(els)
			if err != nil {
				t.Fatalf("Segments(%q): %v", c.Content, err)
			}
			want := segments.Read(t, c.Segments)
			if len(segs) == 0 && len(want) == 0 {
				return
			}
			if !reflect.DeepEqual(segs, want) {
				got, _ := json.Marshal(ob12.EncodeSegments(segs))
				t.Errorf("Segments(%q)\n got %s (%#v)\nwant %s", c.Content, got, segs, ob12.EncodeSegments(want))
			}
		})
	}
	for _, c := range vec.Errors {
		t.Run(c.Name, func(t *testing.T) {
			els, err := element.Parse(c.Input(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Segments(els)
			if err == nil || !strings.Contains(err.Error(), c.Error) || model.KindOf(err) != model.ErrBadSegmentData {
				t.Fatalf("Segments: error %v (%v), want a bad_segment_data error containing %q", err, model.KindOf(err), c.Error)
			}
		})
	}
}

func TestFromMatrixVectors(t *testing.T) {
	var vec struct {
		About string `json:"about"`
		Cases []struct {
			Name     string         `json:"name"`
			Segments []ob12.Segment `json:"segments"` // the neutral segments, in OneBot v12 form
			Content  string         `json:"content"`
		} `json:"cases"`
	}
	vectors.ReadFile(t, "from_matrix.json", &vec)
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			segs := segments.Read(t, c.Segments)
			if got := Content(segs); got != c.Content {
				t.Errorf("Content\n got %s\nwant %s", got, c.Content)
			}
			// What the gateway writes, the reference parser reads back to the same elements.
			els, err := element.Parse(c.Content)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(els, Elements(segs)) {
				t.Errorf("Parse(Content) = %+v, want %+v", els, Elements(segs))
			}
		})
	}
}

// FuzzSegments: whatever content parses converts to segments without a panic.
func FuzzSegments(f *testing.F) {
	for _, s := range []string{
		"", "hello", "<at id=\"@a:b\"/> hi", "<quote id=\"$x\"><author id=\"@b:c\"/></quote>t", "<b>x<i>y</b>z",
		"<img src='a' no-cache flag/>", "<at type=all/>", "<a href=\"x\">", "<p>\n a \n</p>", "<at role=admin/>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if els, err := element.Parse(s); err == nil {
			_, _ = Segments(els)
		}
	})
}

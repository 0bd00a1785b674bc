package v11

import (
	"reflect"
	"testing"
)

func TestCQRoundTrip(t *testing.T) {
	segs := []Segment{
		{Type: "text", Data: map[string]any{"text": "a [b] & c, d"}},
		{Type: "at", Data: map[string]any{"qq": "42"}},
		{Type: "reply", Data: map[string]any{"id": "7"}},
		{Type: "text", Data: map[string]any{"text": "[CQ:at,qq=all]"}},
	}
	s := SegmentsToCQ(segs)
	want := "a &#91;b&#93; &amp; c, d[CQ:at,qq=42][CQ:reply,id=7]&#91;CQ:at,qq=all&#93;"
	if s != want {
		t.Fatalf("rendered %q, want %q", s, want)
	}
	back, err := ParseCQ(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, segs) {
		t.Fatalf("parsed back %#v, want %#v", back, segs)
	}
}

// Text from Matrix can never turn into a CQ code: the attack where a user writes "[CQ:…]".
func TestCQInjectionFromMatrixText(t *testing.T) {
	for _, evil := range []string{"[CQ:at,qq=all]", "x[CQ:image,file=file:///etc/passwd]y", "&#91;CQ:at,qq=1&#93;", "]]][[[CQ:"} {
		s := SegmentsToCQ([]Segment{{Type: "text", Data: map[string]any{"text": evil}}})
		back, err := ParseCQ(s)
		if err != nil {
			t.Fatalf("%q: %v", evil, err)
		}
		if len(back) != 1 || back[0].Type != "text" || back[0].Data["text"] != evil {
			t.Fatalf("%q came back as %#v", evil, back)
		}
	}
}

func TestCQParseErrors(t *testing.T) {
	for _, bad := range []string{"[CQ:at,qq=1", "[CQ:]", "[CQ:at,qq]"} {
		if _, err := ParseCQ(bad); err == nil {
			t.Errorf("ParseCQ(%q) succeeded", bad)
		}
	}
	segs, err := ParseCQ("[CQ:face,id=1]hello[CQ:at,qq=all]")
	if err != nil || len(segs) != 3 || segs[1].Data["text"] != "hello" || segs[2].Data["qq"] != "all" {
		t.Fatalf("got %#v, %v", segs, err)
	}
}

func FuzzParseCQ(f *testing.F) {
	for _, s := range []string{"", "hi", "[CQ:at,qq=1]", "a&#91;b", "[CQ:x,a=b,c=d&#44;e]tail", "[CQ:", "[CQ:a,=]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := ParseCQ(s)
		if err != nil {
			return
		}
		// What parses renders again and parses to the same segments.
		again, err := ParseCQ(SegmentsToCQ(segs))
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v", s, err)
		}
		if len(mergeText(again)) != len(mergeText(segs)) {
			t.Fatalf("re-parse of %q: %d segments, want %d", s, len(again), len(segs))
		}
	})
}

// mergeText joins adjacent text segments (rendering may merge them).
func mergeText(segs []Segment) []Segment {
	var out []Segment
	for _, s := range segs {
		if s.Type == "text" && len(out) > 0 && out[len(out)-1].Type == "text" {
			out[len(out)-1].Data = map[string]any{"text": out[len(out)-1].Data["text"].(string) + s.Data["text"].(string)}
			continue
		}
		out = append(out, s)
	}
	return out
}

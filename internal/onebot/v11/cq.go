package v11

import (
	"fmt"
	"sort"
	"strings"
)

// CQ codes: the v11 string message format. Text is escaped so that text which came from Matrix
// can never be read back as a CQ code.

var (
	cqTextEscaper     = strings.NewReplacer("&", "&amp;", "[", "&#91;", "]", "&#93;")
	cqParamEscaper    = strings.NewReplacer("&", "&amp;", "[", "&#91;", "]", "&#93;", ",", "&#44;")
	cqUnescaper       = strings.NewReplacer("&#91;", "[", "&#93;", "]", "&#44;", ",", "&amp;", "&")
	errCQUnterminated = fmt.Errorf("unterminated CQ code")
)

// SegmentsToCQ renders segments as a CQ string.
func SegmentsToCQ(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Type == "text" {
			t, _ := s.Data["text"].(string)
			b.WriteString(cqTextEscaper.Replace(t))
			continue
		}
		b.WriteString("[CQ:")
		b.WriteString(s.Type)
		keys := make([]string, 0, len(s.Data))
		for k := range s.Data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte(',')
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(cqParamEscaper.Replace(fmt.Sprint(s.Data[k])))
		}
		b.WriteByte(']')
	}
	return b.String()
}

// ParseCQ parses a CQ string into segments; adjacent text is one segment.
func ParseCQ(s string) ([]Segment, error) {
	var out []Segment
	for len(s) > 0 {
		i := strings.Index(s, "[CQ:")
		if i < 0 {
			out = append(out, cqText(s))
			break
		}
		if i > 0 {
			out = append(out, cqText(s[:i]))
		}
		j := strings.IndexByte(s[i:], ']')
		if j < 0 {
			return nil, errCQUnterminated
		}
		code := s[i+4 : i+j]
		s = s[i+j+1:]
		parts := strings.Split(code, ",")
		typ := strings.TrimSpace(parts[0])
		if typ == "" {
			return nil, fmt.Errorf("CQ code without a type")
		}
		data := map[string]any{}
		for _, p := range parts[1:] {
			k, v, ok := strings.Cut(p, "=")
			if !ok {
				return nil, fmt.Errorf("CQ code %s: parameter %q has no value", typ, p)
			}
			data[k] = cqUnescaper.Replace(v)
		}
		out = append(out, Segment{Type: typ, Data: data})
	}
	return out, nil
}

func cqText(s string) Segment {
	return Segment{Type: "text", Data: map[string]any{"text": cqUnescaper.Replace(s)}}
}

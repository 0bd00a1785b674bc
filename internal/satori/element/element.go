package element

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Element is one node of a Satori message: a text node (Type "text", Text set) or a tag with
// attributes and children, written `<type attr="value">children</type>` or `<type/>`.
type Element struct {
	Type     string
	Text     string // for Type "text": the unescaped text
	Attrs    []Attr // in the order written
	Children []Element
}

// Attr is one attribute of an element. A bare attribute (`<x flag/>`) has the value "true",
// `no-flag` the value "false" (as the reference parser of @satorijs/element reads them).
type Attr struct {
	Key, Value string
}

// Attr returns the value of the attribute key ("" when absent).
func (e Element) Attr(key string) string {
	v, _ := e.Lookup(key)
	return v
}

// Lookup returns the value of the attribute key and whether it is set.
func (e Element) Lookup(key string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// TextNode returns a text element.
func TextNode(s string) Element { return Element{Type: "text", Text: s} }

// Tag returns an element with attributes given as key, value pairs (pairs with value "" are
// left out) and children.
func Tag(typ string, kv []string, children ...Element) Element {
	e := Element{Type: typ, Children: children}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			e.Attrs = append(e.Attrs, Attr{Key: kv[i], Value: kv[i+1]})
		}
	}
	return e
}

// Limits of Parse: a message's elements come from clients (message.create) and are untrusted.
const (
	maxDepth    = 32      // nesting of open tags
	maxElements = 10000   // elements in one message
	maxContent  = 1 << 22 // bytes of one message's content
)

// ParseError says why a content string was refused.
type ParseError struct{ Reason string }

func (e *ParseError) Error() string { return "malformed message content: " + e.Reason }

// Parse reads a Satori message content string into elements, as the reference parser of
// @satorijs/element does without a template context: text between tags is unescaped (&lt; &gt;
// &amp; &quot; and numeric references), a whitespace run holding a line break at the edge of a
// text is dropped, comments are skipped, a closing tag closes the innermost open tag only when
// the names match (otherwise it is ignored), and tags left open end with the content. It
// refuses content nested deeper than 32 tags, with more than 10,000 elements or larger than
// 4 MiB, and content that is not UTF-8.
func Parse(s string) ([]Element, error) {
	if len(s) > maxContent {
		return nil, &ParseError{Reason: fmt.Sprintf("content is larger than %d bytes", maxContent)}
	}
	if !utf8.ValidString(s) {
		return nil, &ParseError{Reason: "content is not valid UTF-8"}
	}
	p := parser{src: s}
	root := &Element{}
	stack := []*Element{root}
	trimStart := true
	for {
		i := p.nextTag()
		if i < 0 {
			if err := p.text(stack[len(stack)-1], p.src, trimStart, true); err != nil {
				return nil, err
			}
			break
		}
		if err := p.text(stack[len(stack)-1], p.src[:i], trimStart, true); err != nil {
			return nil, err
		}
		trimStart = true
		p.src = p.src[i:]
		if strings.HasPrefix(p.src, "<!--") {
			end := strings.Index(p.src[4:], "-->")
			p.src = p.src[4+end+3:]
			continue
		}
		end := strings.IndexByte(p.src, '>')
		tag := p.src[1:end]
		p.src = p.src[end+1:]
		closing := strings.HasPrefix(tag, "/")
		if closing {
			tag = tag[1:]
		}
		name := tag
		if j := strings.IndexFunc(tag, func(r rune) bool { return r == '/' || r == '!' || isSpace(r) }); j >= 0 {
			name = tag[:j]
		}
		extra := strings.TrimRightFunc(tag[len(name):], isSpace)
		empty := strings.HasSuffix(extra, "/")
		if empty {
			extra = extra[:len(extra)-1]
		}
		if closing {
			if top := stack[len(stack)-1]; len(stack) > 1 && top.Type == name {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if err := p.count(); err != nil {
			return nil, err
		}
		el := Element{Type: name, Attrs: parseAttrs(extra)}
		if el.Type == "" {
			el.Type = "template" // `<>`: a fragment
		}
		parent := stack[len(stack)-1]
		parent.Children = append(parent.Children, el)
		if !empty {
			if len(stack) > maxDepth {
				return nil, &ParseError{Reason: fmt.Sprintf("elements are nested deeper than %d", maxDepth)}
			}
			stack = append(stack, &parent.Children[len(parent.Children)-1])
		}
	}
	return root.Children, nil
}

type parser struct {
	src      string
	elements int
}

func (p *parser) count() error {
	p.elements++
	if p.elements > maxElements {
		return &ParseError{Reason: fmt.Sprintf("more than %d elements", maxElements)}
	}
	return nil
}

// nextTag returns the index of the next comment or tag (a '<' with a '>' after it; a comment
// needs its '-->'), or -1.
func (p *parser) nextTag() int {
	off := 0
	for {
		i := strings.IndexByte(p.src[off:], '<')
		if i < 0 {
			return -1
		}
		i += off
		if strings.HasPrefix(p.src[i:], "<!--") && strings.Contains(p.src[i+4:], "-->") {
			return i
		}
		rest := p.src[i+1:]
		// `<!x>` is no tag for the reference parser (its name may not start with '!').
		if strings.IndexByte(rest, '>') >= 0 && !strings.HasPrefix(rest, "!") && !strings.HasPrefix(rest, "/!") {
			return i
		}
		off = i + 1
	}
}

func (p *parser) text(parent *Element, s string, trimStart, trimEnd bool) error {
	s = Unescape(s)
	if trimStart {
		s = trimEdge(s, true)
	}
	if trimEnd {
		s = trimEdge(s, false)
	}
	if s == "" {
		return nil
	}
	if err := p.count(); err != nil {
		return err
	}
	parent.Children = append(parent.Children, TextNode(s))
	return nil
}

// trimEdge drops a run of whitespace at the start (or end) of s when the run holds a line break.
func trimEdge(s string, start bool) string {
	var run string
	if start {
		run = s[:len(s)-len(strings.TrimLeftFunc(s, isSpace))]
	} else {
		run = s[len(strings.TrimRightFunc(s, isSpace)):]
	}
	if !strings.Contains(run, "\n") {
		return s
	}
	if start {
		return s[len(run):]
	}
	return s[:len(s)-len(run)]
}

func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', '\v', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// parseAttrs reads `key="value" key='value' flag no-flag` pairs; other text is skipped.
func parseAttrs(s string) []Attr {
	var out []Attr
	for {
		s = strings.TrimLeftFunc(s, isSpace)
		if s == "" {
			return out
		}
		end := strings.IndexFunc(s, func(r rune) bool { return r == '=' || isSpace(r) })
		if end < 0 {
			end = len(s)
		}
		key := s[:end]
		s = s[end:]
		if key == "" { // a stray '='
			s = s[1:]
			continue
		}
		if len(s) >= 2 && s[0] == '=' && (s[1] == '"' || s[1] == '\'') {
			if j := strings.IndexByte(s[2:], s[1]); j >= 0 {
				out = append(out, Attr{Key: key, Value: Unescape(s[2 : 2+j])})
				s = s[2+j+1:]
				continue
			}
		}
		if rest, ok := strings.CutPrefix(key, "no-"); ok && rest != "" {
			out = append(out, Attr{Key: rest, Value: "false"})
		} else {
			out = append(out, Attr{Key: key, Value: "true"})
		}
		if strings.HasPrefix(s, "=") { // an unquoted value: the reference parser drops it
			s = s[1:]
			if j := strings.IndexFunc(s, isSpace); j >= 0 {
				s = s[j:]
			} else {
				s = ""
			}
		}
	}
}

// Escape escapes text for a message content: & < > always, and " too when inAttr.
func Escape(s string, inAttr bool) string {
	if !strings.ContainsAny(s, `&<>"`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			if inAttr {
				b.WriteString("&quot;")
			} else {
				b.WriteRune(r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Unescape undoes Escape and decodes numeric character references (&#NN; &#xHH;), in the order
// of the reference implementation (so "&amp;lt;" is "&lt;", not "<").
func Unescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	s = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(s)
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		if r, n := numericRef(s); n > 0 {
			b.WriteRune(r)
			s = s[n:]
			continue
		}
		b.WriteByte('&')
		s = s[1:]
	}
	s = b.String()
	for _, amp := range []string{"&amp;", "&#38;", "&#x26;", "&#X26;"} {
		s = strings.ReplaceAll(s, amp, "&")
	}
	return s
}

// numericRef decodes a "&#NN;" or "&#xHH;" at the start of s (never &#38; / &#x26;, which stay
// for the last step); n is 0 when there is none.
func numericRef(s string) (rune, int) {
	if !strings.HasPrefix(s, "&#") {
		return 0, 0
	}
	end := strings.IndexByte(s, ';')
	if end < 3 || end > 12 {
		return 0, 0
	}
	num, base := s[2:end], 10
	if num[0] == 'x' || num[0] == 'X' {
		num, base = num[1:], 16
	}
	v, err := strconv.ParseUint(num, base, 32)
	if err != nil || num == "" || strings.HasPrefix(num, "+") || v == 0x26 {
		return 0, 0
	}
	if !utf8.ValidRune(rune(v)) {
		return utf8.RuneError, end + 1
	}
	return rune(v), end + 1
}

// Encode writes elements as a content string: text escaped, attributes quoted and escaped,
// elements without children self-closed.
func Encode(els []Element) string {
	var b strings.Builder
	for _, e := range els {
		encodeTo(&b, e)
	}
	return b.String()
}

func encodeTo(b *strings.Builder, e Element) {
	if e.Type == "text" {
		b.WriteString(Escape(e.Text, false))
		return
	}
	b.WriteByte('<')
	b.WriteString(e.Type)
	for _, a := range e.Attrs {
		b.WriteByte(' ')
		b.WriteString(a.Key)
		b.WriteString(`="`)
		b.WriteString(Escape(a.Value, true))
		b.WriteByte('"')
	}
	if len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, c := range e.Children {
		encodeTo(b, c)
	}
	b.WriteString("</")
	b.WriteString(e.Type)
	b.WriteByte('>')
}

package push

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// jsStringifyCompat rewrites compact JSON from marshal into exactly the bytes that JavaScript's
// JSON.stringify(JSON.parse(b)) yields, so that a client which checks X-Signature over its
// re-serialisation (Koishi) agrees with one that checks the bytes received (NoneBot): Go escapes
// U+2028, U+2029 and invalid UTF-8 (as \ufffd), JavaScript writes those characters as they are.
func jsStringifyCompat(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(b):
			if b[i+1] == 'u' && i+6 <= len(b) {
				switch string(b[i+2 : i+6]) {
				case "2028", "2029", "fffd":
					n, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
					out = utf8.AppendRune(out, rune(n))
					i += 5
					continue
				}
			}
			out = append(out, c, b[i+1]) // any other escape is kept as it is, with its character
			i++
			continue
		}
		out = append(out, c)
	}
	return out
}

package element

import (
	"fmt"
	"strings"
	"testing"

	"github.com/matrix-onebot/gateway/test/vectors"
)

// dump renders elements compactly for the vectors: "text" for text (Go %q), type(k=v …)[…].
func dump(els []Element) string {
	parts := make([]string, 0, len(els))
	for _, e := range els {
		if e.Type == "text" {
			parts = append(parts, fmt.Sprintf("%q", e.Text))
			continue
		}
		s := e.Type
		if len(e.Attrs) > 0 {
			kv := make([]string, len(e.Attrs))
			for i, a := range e.Attrs {
				kv[i] = a.Key + "=" + a.Value
			}
			s += "(" + strings.Join(kv, " ") + ")"
		}
		if len(e.Children) > 0 {
			s += "[" + dump(e.Children) + "]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestParseVectors(t *testing.T) {
	var vec struct {
		About string `json:"about"`
		Cases []struct {
			Name    string `json:"name"`
			Content string `json:"content"`
			Tree    string `json:"tree"`
			Encoded string `json:"encoded"`
		} `json:"cases"`
		Errors []vectors.ContentError `json:"errors"`
	}
	vectors.ReadFile(t, "parse.json", &vec)
	if len(vec.Cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range vec.Cases {
		t.Run(c.Name, func(t *testing.T) {
			els, err := Parse(c.Content)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.Content, err)
			}
			if got := dump(els); got != c.Tree {
				t.Errorf("Parse(%q)\n got %s\nwant %s", c.Content, got, c.Tree)
			}
			want := c.Encoded
			if want == "" {
				want = c.Content
			}
			if got := Encode(els); got != want {
				t.Errorf("Encode(Parse(%q))\n got %q\nwant %q", c.Content, got, want)
			}
		})
	}
	for _, c := range vec.Errors {
		t.Run(c.Name, func(t *testing.T) {
			_, err := Parse(c.Input(t))
			if err == nil || !strings.Contains(err.Error(), c.Error) {
				t.Fatalf("Parse: error %v, want one containing %q", err, c.Error)
			}
		})
	}
}

// FuzzParse: any content is parsed without a panic or an error other than ParseError, and the
// parsed elements are stable: encoding and parsing them again gives the same encoding (the
// satori package fuzzes their conversion to segments).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "hello", "<at id=\"@a:b\"/> hi", "<quote id=\"$x\"><author id=\"@b:c\"/></quote>t", "<b>x<i>y</b>z",
		"&lt;&#60;&#x3c;&amp;lt;", "<!-- c -->", "<img src='a' no-cache flag/>", "</x>", "<>a</>", "<p>\n a \n</p>",
		"<a href=\"x\">", "<at type=all/>", "<<>>", "<a b=\"c\" =d e='f'>", "&#1114112;&#xD800;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		els, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !asParseError(err, &pe) {
				t.Fatalf("Parse(%q): error of type %T: %v", s, err, err)
			}
			return
		}
		enc := Encode(els)
		again, err := Parse(enc)
		if err != nil {
			t.Fatalf("Parse(Encode(Parse(%q))) = %v (encoded %q)", s, err, enc)
		}
		if enc2 := Encode(again); enc2 != enc {
			t.Fatalf("unstable encoding of %q:\n first %q\nsecond %q", s, enc, enc2)
		}
	})
}

func asParseError(err error, pe **ParseError) bool {
	p, ok := err.(*ParseError)
	*pe = p
	return ok
}

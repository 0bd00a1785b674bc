package intake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
)

// Base64Reader decodes s as it is read, so that a file sent as base64 is never held decoded in
// memory as a whole: the standard or URL-safe alphabet, padded or not, with line breaks and
// spaces anywhere (what DecodeBase64 accepts). A decoding error says "not base64".
func Base64Reader(s string) io.Reader {
	s = strings.TrimRight(s, "= \t\r\n")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return &b64Errors{r: base64.NewDecoder(enc, &skipSpace{r: strings.NewReader(s)})}
}

// skipSpace drops ASCII white space from a reader.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	for {
		n, err := s.r.Read(p)
		k := 0
		for _, b := range p[:n] {
			if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
				p[k] = b
				k++
			}
		}
		if k > 0 || err != nil {
			return k, err
		}
	}
}

type b64Errors struct{ r io.Reader }

func (b *b64Errors) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("not base64: %w", err)
	}
	return n, err
}

// dataURLReader is parseDataURL for a data: URL whose payload is base64: the payload is decoded
// as it is read. Other data: URLs (percent-encoded, small by nature) go through parseDataURL.
func dataURLReader(src string) (string, io.Reader, error) {
	if meta, payload, ok := strings.Cut(src, ","); ok {
		if head, isB64 := strings.CutSuffix(meta, ";base64"); isB64 {
			mimeType, _, err := parseDataURL(head + ",") // checks the prefix and the media type
			if err != nil {
				return "", nil, err
			}
			return mimeType, Base64Reader(payload), nil
		}
	}
	mimeType, data, err := parseDataURL(src)
	if err != nil {
		return "", nil, err
	}
	return mimeType, bytes.NewReader(data), nil
}

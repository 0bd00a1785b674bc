package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Config, Gateway and Bot hold secrets. Each has String, Format (so every
// fmt verb, %#v included, prints String), LogValue and MarshalJSON, all of
// which leave the secrets out; so printing, logging or JSON-encoding one
// (even inside a slice or another struct) cannot leak a token.

// MarshalJSON renders the same secret-free view as LogValue. It is for logs
// and debugging output; the result cannot be loaded back.
func (b Bot) MarshalJSON() ([]byte, error) { return marshalLogValue(b.LogValue()) }

// MarshalJSON renders the same secret-free view as LogValue.
func (c Config) MarshalJSON() ([]byte, error) { return marshalLogValue(c.LogValue()) }

// MarshalJSON renders the same secret-free view as LogValue.
func (g Gateway) MarshalJSON() ([]byte, error) { return marshalLogValue(g.LogValue()) }

// marshalLogValue renders a slog value, groups as JSON objects.
func marshalLogValue(v slog.Value) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeLogValue(&buf, v); err != nil {
		return nil, fmt.Errorf("failed to marshal log value: %w", err)
	}
	return buf.Bytes(), nil
}

func writeLogValue(buf *bytes.Buffer, v slog.Value) error {
	v = v.Resolve()
	if v.Kind() != slog.KindGroup {
		b, err := json.Marshal(v.Any())
		buf.Write(b)
		return err
	}
	buf.WriteByte('{')
	for i, a := range v.Group() {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(a.Key)
		if err != nil {
			return err
		}
		buf.Write(k)
		buf.WriteByte(':')
		if err := writeLogValue(buf, a.Value); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

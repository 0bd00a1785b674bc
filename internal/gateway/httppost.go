package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"unicode/utf8"

	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
)

// OneBot v11 HTTP POST: events are POSTed with X-Self-ID (and X-Signature); the reply may carry
// a quick operation (go-cqhttp's "快速操作"). See RunWebhook for the delivery itself.

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

// runQuickOperation runs a quick operation through the action table: each part works as soon as
// the action it maps to exists, and anything that cannot be done is logged with the reason.
func (ar actionRunner) runQuickOperation(ctx context.Context, bot *botEntry, event []byte, op *ob11.QuickOperation, log *slog.Logger) {
	var ev ob11.QuickContext
	if err := json.Unmarshal(event, &ev); err != nil {
		log.Warn("quick operation ignored: the event cannot be read", "error", err)
		return
	}
	steps, ignored, err := ob11.QuickSteps(ev, op)
	if len(ignored) > 0 {
		log.Warn("quick operation keys ignored: not supported for this event", "keys", ignored, "post_type", ev.PostType)
	}
	if err != nil {
		log.Warn("quick operation ignored", "error", err)
		return
	}
	for _, s := range steps {
		_, err := ar.run(ctx, 11, bot, s.Action, mustJSON(s.Params))
		var pe *protoError
		switch {
		case err == nil:
			log.Debug("ran quick operation", "op", s.Op, "action", s.Action)
		case errors.As(err, &pe) && pe.V11 == v11UnsupportedAction:
			log.Warn("quick operation not supported: its action is not available", "op", s.Op, "action", s.Action)
		default:
			log.Warn("quick operation failed", "op", s.Op, "action", s.Action, "error", err)
		}
	}
}

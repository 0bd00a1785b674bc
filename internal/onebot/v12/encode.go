package v12

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// encodeMessage is face.Marshal(MessageEvent(ev)), byte for byte, written straight into one
// buffer from the event and its segments: encoding/json walked the Event and each segment's data
// map by reflection (and sorted the keys through reflect), 7 % of the gateway's CPU per incoming
// message under the stand-in's replay. A number JSON has no form for goes to face.Marshal, which
// refuses it as before.
func encodeMessage(ev *model.Event) ([]byte, error) {
	m := ev.Message
	b := make([]byte, 0, 256+len(ev.ID)+2*len(m.Plain)+len(m.EventID)+len(m.Sender)+2*len(m.RoomID)+64*len(m.Segments))
	b = append(b, `{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"time":`...)
	var ok bool
	if b, ok = appendFloat(b, Time(ev.Time)); !ok {
		return face.Marshal(MessageEvent(ev))
	}
	b = append(b, `,"type":"message","detail_type":`...)
	if m.Direct {
		b = append(b, `"private"`...)
	} else {
		b = append(b, `"group"`...)
	}
	b = append(b, `,"sub_type":"","self":{"platform":`...)
	b = appendString(b, model.Platform)
	b = append(b, `,"user_id":`...)
	b = appendString(b, string(ev.Self))
	b = append(b, '}')
	b = appendOmitEmpty(b, `,"message_id":`, string(m.EventID))
	if len(m.Segments) > 0 {
		b = append(b, `,"message":[`...)
		for i, s := range m.Segments {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendModelSegment(b, s); !ok {
				return face.Marshal(MessageEvent(ev))
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"alt_message":`...)
	b = appendString(b, m.Plain)
	b = appendOmitEmpty(b, `,"user_id":`, string(m.Sender))
	if !m.Direct {
		b = appendOmitEmpty(b, `,"group_id":`, string(m.RoomID))
	}
	b = appendOmitEmpty(b, `,"matrix.room_id":`, string(m.RoomID))
	b = appendOmitEmpty(b, `,"matrix.msgtype":`, m.MsgType)
	if !m.Direct {
		role := string(m.SenderRole)
		if role == "" {
			role = string(model.RoleMember)
		}
		b = appendOmitEmpty(b, `,"matrix.role":`, role)
	}
	return append(b, '}'), nil
}

// appendModelSegment writes s as appendSegment writes onebot.EncodeSegment(s), without the map:
// the data's keys in sorted order.
func appendModelSegment(b []byte, s model.Segment) ([]byte, bool) {
	switch s := s.(type) {
	case model.Text:
		b = append(b, `{"type":"text","data":{"text":`...)
		b = appendString(b, s.Text)
	case model.Mention:
		b = append(b, `{"type":"mention","data":{"user_id":`...)
		b = appendString(b, string(s.User))
	case model.MentionAll:
		b = append(b, `{"type":"mention_all","data":{`...)
	case model.Reply:
		b = append(b, `{"type":"reply","data":{"message_id":`...)
		b = appendString(b, string(s.Event))
		b = append(b, `,"user_id":`...)
		b = appendString(b, string(s.Sender))
	default:
		return appendSegment(b, onebot.EncodeSegment(s))
	}
	return append(b, "}}"...), true
}

func appendOmitEmpty(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

// appendSegment writes {"type":…,"data":{…}} with the data's keys sorted, as encoding/json
// writes a map; ok is false for a data value it does not write.
func appendSegment(b []byte, s onebot.Segment) ([]byte, bool) {
	b = append(b, `{"type":`...)
	b = appendString(b, s.Type)
	b = append(b, `,"data":`...)
	if s.Data == nil {
		return append(b, `null}`...), true
	}
	var small [8]string
	keys := small[:0]
	for k := range s.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		var ok bool
		switch v := s.Data[k].(type) {
		case string:
			b = appendString(b, v)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case float64:
			if b, ok = appendFloat(b, v); !ok {
				return b, false
			}
		case bool:
			b = strconv.AppendBool(b, v)
		case nil:
			b = append(b, "null"...)
		default:
			return b, false
		}
	}
	return append(b, "}}"...), true
}

// appendFloat writes f as encoding/json writes a float64; ok is false for NaN and infinities,
// which it refuses.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 -> e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string as encoding/json does without HTML escaping: invalid
// UTF-8 becomes U+FFFD, and U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

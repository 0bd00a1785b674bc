package matrix

import (
	"context"
	"html"
	"slices"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// pillMark brackets a mention inside text produced by the HTML parser, so that the text can be
// split into segments afterwards. It uses control characters that sanitised HTML cannot carry.
const pillMark = "\x00"

// segmentParser turns sanitised Matrix HTML into plain text for OneBot clients: formatting is
// dropped (no Markdown markers), the content of script and style elements is dropped, and user
// pills become mention segments.
var segmentParser = &format.HTMLParser{
	TabsToSpaces:            4,
	Newline:                 "\n",
	HorizontalLine:          "\n---\n",
	BoldConverter:           plainText,
	ItalicConverter:         plainText,
	StrikethroughConverter:  plainText,
	UnderlineConverter:      plainText,
	MonospaceConverter:      plainText,
	MonospaceBlockConverter: func(code, _ string, _ format.Context) string { return code },
	TextConverter: func(text string, ctx format.Context) string {
		if ctx.TagStack.Has("script") || ctx.TagStack.Has("style") {
			return ""
		}
		return text
	},
	PillConverter: func(displayname, mxid, eventID string, ctx format.Context) string {
		// mxid comes percent-decoded from the href, so it can hold the marker itself (%00).
		if strings.HasPrefix(mxid, "@") && eventID == "" && !strings.Contains(mxid, pillMark) {
			return pillMark + mxid + pillMark
		}
		return displayname
	},
}

func plainText(s string, _ format.Context) string { return s }

// replyResolver answers for the event a message replies to: whether the reply may be shown at
// all (ok: the replied-to event is in the message's own room) and who sent it ("" when unknown).
// A reply into another room is dropped, so that neither its sender nor (through get_msg) its text
// reaches a client reading this room.
type replyResolver func(id.EventID) (sender id.UserID, ok bool)

// replySegment is the reply segment of content, or nil when it has none or resolve drops it.
func replySegment(content *event.MessageEventContent, resolve replyResolver) []model.Segment {
	rel := content.RelatesTo
	if rel == nil || rel.InReplyTo == nil || rel.InReplyTo.EventID == "" || resolve == nil {
		return nil
	}
	sender, ok := resolve(rel.InReplyTo.EventID)
	if !ok {
		return nil
	}
	return []model.Segment{model.Reply(rel.InReplyTo.EventID, sender)}
}

// messageSegments turns a (decrypted) m.room.message content into neutral segments and their
// plain rendering. resolve decides about the replied-to event.
func messageSegments(content *event.MessageEventContent, resolve replyResolver) ([]model.Segment, string) {
	return textSegments(content, replySegment(content, resolve))
}

// textSegments is messageSegments with the reply segment (or nil) already resolved.
func textSegments(content *event.MessageEventContent, reply []model.Segment) ([]model.Segment, string) {
	segs := reply
	var plain strings.Builder
	c := *content
	c.RemoveReplyFallback()
	var text string
	if c.Format == event.FormatHTML && c.FormattedBody != "" {
		text = segmentParser.Parse(c.FormattedBody, format.NewContext(context.Background()))
	} else {
		text = strings.ReplaceAll(c.Body, pillMark, "")
	}
	roomMention := c.Mentions != nil && c.Mentions.Room
	parts := strings.Split(text, pillMark)
	for i, p := range parts {
		if i%2 == 1 { // a pill
			segs = append(segs, model.Mention(id.UserID(p)))
			plain.WriteString(p)
			continue
		}
		if p == "" {
			continue
		}
		if roomMention {
			if before, after, ok := strings.Cut(p, "@room"); ok {
				roomMention = false
				if before != "" {
					segs = append(segs, model.Text(before))
				}
				segs = append(segs, model.Segment{Type: "mention_all", Data: map[string]any{}})
				plain.WriteString(before + "@room")
				p = after
				if p == "" {
					continue
				}
			}
		}
		segs = append(segs, model.Text(p))
		plain.WriteString(p)
	}
	if roomMention { // m.mentions said @room but the text does not show it: first, after a reply
		at := 0
		if len(segs) > 0 && segs[0].Type == "reply" {
			at = 1
		}
		segs = slices.Insert(segs, at, model.Segment{Type: "mention_all", Data: map[string]any{}})
	}
	return segs, plain.String()
}

// buildContent turns neutral segments into an m.room.message content. displayName resolves a
// mentioned user's name in the room.
func buildContent(segs []model.Segment, displayName func(id.UserID) string) (*event.MessageEventContent, error) {
	content := &event.MessageEventContent{MsgType: event.MsgText, Mentions: &event.Mentions{}}
	var body, formatted strings.Builder
	rich := false
	for i, s := range segs {
		str := func(key string) string { v, _ := s.Data[key].(string); return v }
		switch s.Type {
		case "text":
			t := str("text")
			body.WriteString(t)
			formatted.WriteString(strings.ReplaceAll(html.EscapeString(t), "\n", "<br/>"))
		case "mention":
			u := id.UserID(str("user_id"))
			name := displayName(u)
			if name == "" {
				name = string(u)
			}
			body.WriteString(name)
			formatted.WriteString(`<a href="` + html.EscapeString(u.URI().MatrixToURL()) + `">` + html.EscapeString(name) + `</a>`)
			content.Mentions.Add(u)
			rich = true
		case "mention_all":
			body.WriteString("@room")
			formatted.WriteString("@room")
			content.Mentions.Room = true
		case "reply":
			if content.RelatesTo != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d: only one reply per message", i)
			}
			content.RelatesTo = &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: id.EventID(str("message_id"))}}
			if u := str("user_id"); u != "" {
				content.Mentions.Add(id.UserID(u))
			}
		default:
			return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type)
		}
	}
	content.Body = body.String()
	if content.Body == "" {
		return nil, model.Errorf(model.ErrBadParam, "message has no content to send")
	}
	if rich {
		content.Format = event.FormatHTML
		content.FormattedBody = formatted.String()
	}
	return content, nil
}

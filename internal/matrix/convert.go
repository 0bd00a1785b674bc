package matrix

import (
	"context"
	"html"
	"slices"
	"strings"
	"unicode"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// pillMark brackets a mention inside text produced by the HTML parser, so that the text can be
// split into segments afterwards. It uses control characters that sanitised HTML cannot carry.
const pillMark = "\x00"

// pillName separates a pill's user ID from the display name it showed, inside the marks.
const pillName = "\x01"

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
		if strings.HasPrefix(mxid, "@") && eventID == "" && !strings.Contains(mxid, pillMark) && !strings.Contains(mxid, pillName) {
			name := strings.NewReplacer(pillMark, "", pillName, "").Replace(displayname)
			if name == mxid {
				name = ""
			}
			return pillMark + mxid + pillName + name + pillMark
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
	return []model.Segment{model.Reply{Event: rel.InReplyTo.EventID, Sender: sender}}
}

// recipient is the bot that received a message (zero when none in particular) and the names a
// plain-text client writes for a mention of it: its display name in the room, its localpart.
type recipient struct {
	id    id.UserID
	names []string
}

// messageSegments turns a (decrypted) m.room.message content into neutral segments and their
// plain rendering. resolve decides about the replied-to event; self is the bot.
func messageSegments(content *event.MessageEventContent, resolve replyResolver, self recipient) ([]model.Segment, string) {
	return textSegments(content, replySegment(content, resolve), self)
}

// textSegments is messageSegments with the reply segment (or nil) already resolved.
//
// Mentions come from pills in the text and from m.mentions: a user mentioned only in m.mentions
// (no pill, as plain-text clients and some bridges send it) still gets a mention segment; the
// bot's goes first (after a reply), where OneBot frameworks look for it (to_me), anyone else's
// last. The separator after a leading pill of the bot (Element writes "Bot: text") is dropped,
// as a OneBot client sees "@Bot text" on QQ, so that "Bot: /echo hi" reaches the framework as
// the command "/echo hi". A plain-text client writes the same without a pill, with the bot in
// m.mentions: a leading name of the bot followed by ':' or ',' counts as its pill then.
func textSegments(content *event.MessageEventContent, reply []model.Segment, self recipient) ([]model.Segment, string) {
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
	if self.id != "" && c.Mentions != nil && slices.Contains(c.Mentions.UserIDs, self.id) {
		text = leadingNameAsPill(text, self)
	}
	roomMention := c.Mentions != nil && c.Mentions.Room
	pilled := map[id.UserID]bool{}
	leadingSelf := false // the text so far is only a pill of the bot: strip the separator after it
	parts := strings.Split(text, pillMark)
	for i, p := range parts {
		if i%2 == 1 { // a pill
			mxid, name, _ := strings.Cut(p, pillName)
			p = mxid
			u := id.UserID(mxid)
			leadingSelf = self.id != "" && u == self.id && len(segs) == len(reply) && plain.Len() == 0
			pilled[u] = true
			segs = append(segs, model.Mention{User: u, Name: name})
			plain.WriteString(p)
			continue
		}
		if leadingSelf {
			p = trimMentionSeparator(p)
			leadingSelf = false
			if p != "" {
				plain.WriteString(" ")
			}
		}
		if p == "" {
			continue
		}
		if roomMention {
			if before, after, ok := strings.Cut(p, "@room"); ok {
				roomMention = false
				if before != "" {
					segs = append(segs, model.Text{Text: before})
				}
				segs = append(segs, model.MentionAll{})
				plain.WriteString(before + "@room")
				p = after
				if p == "" {
					continue
				}
			}
		}
		segs = append(segs, model.Text{Text: p})
		plain.WriteString(p)
	}
	at := len(reply) // first place after the reply
	if roomMention { // m.mentions said @room but the text does not show it: first, after a reply
		segs = slices.Insert(segs, at, model.Segment(model.MentionAll{}))
	}
	return withIntentionalMentions(segs, c.Mentions, pilled, reply, self), plain.String()
}

// leadingNameAsPill turns a leading name of the bot followed by ':' or ',' ("Bot: /echo hi",
// as plain-text clients address someone) into the bot's pill. The text is left as it is when
// it starts with a pill already or with no name of the bot.
func leadingNameAsPill(text string, self recipient) string {
	if strings.HasPrefix(text, pillMark) {
		return text
	}
	for _, name := range append([]string{string(self.id)}, self.names...) {
		if name == "" || strings.Contains(name, pillMark) || len(text) <= len(name) || !strings.EqualFold(text[:len(name)], name) {
			continue
		}
		if rest := text[len(name):]; rest[0] == ':' || rest[0] == ',' {
			return pillMark + string(self.id) + pillMark + rest
		}
	}
	return text
}

// trimMentionSeparator drops what separates a leading mention from the text: spaces and one
// ':' or ',' (Element's "Name: ", other clients' "Name, ").
func trimMentionSeparator(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if rest, ok := strings.CutPrefix(s, ":"); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, ","); ok {
		s = rest
	}
	return strings.TrimLeftFunc(s, unicode.IsSpace)
}

// withIntentionalMentions adds a mention segment for each user of m.mentions the text does not
// show as a pill: the bot first (after the reply segment), others at the end. The sender of the
// replied-to message is left out: Matrix clients put them in m.mentions of every reply, and the
// reply segment names them already; so is anything that is not a valid user ID, and others
// beyond maxUnshownMentions. The plain rendering stays the text as written.
// maxUnshownMentions bounds the mention segments withIntentionalMentions adds for users other
// than the bot: each is a user the v11 ID map keeps for good, and a sender may list any number.
const maxUnshownMentions = 20

func withIntentionalMentions(segs []model.Segment, mentions *event.Mentions, pilled map[id.UserID]bool, reply []model.Segment, self recipient) []model.Segment {
	if mentions == nil || len(mentions.UserIDs) == 0 {
		return segs
	}
	var replied id.UserID
	if len(reply) > 0 {
		if r, ok := reply[0].(model.Reply); ok {
			replied = r.Sender
		}
	}
	seen, others := map[id.UserID]bool{}, 0
	for _, u := range mentions.UserIDs {
		if pilled[u] || seen[u] || u == replied || strings.Contains(string(u), pillMark) {
			continue
		}
		if _, _, err := u.ParseAndValidateRelaxed(); err != nil {
			continue // not a user ID: nothing a client could address
		}
		if u == self.id {
			seen[u] = true
			segs = slices.Insert(segs, len(reply), model.Segment(model.Mention{User: u}))
		} else if others < maxUnshownMentions {
			seen[u] = true
			others++
			segs = append(segs, model.Mention{User: u})
		}
	}
	return segs
}

// buildContent turns neutral segments into an m.room.message content. displayName resolves a
// mentioned user's name in the room.
func buildContent(segs []model.Segment, displayName func(id.UserID) string) (*event.MessageEventContent, error) {
	content := &event.MessageEventContent{MsgType: event.MsgText, Mentions: &event.Mentions{}}
	var body, formatted strings.Builder
	rich := false
	for i, s := range segs {
		switch s := s.(type) {
		case model.Text:
			body.WriteString(s.Text)
			formatted.WriteString(strings.ReplaceAll(html.EscapeString(s.Text), "\n", "<br/>"))
		case model.Mention:
			u := s.User
			name := displayName(u)
			if name == "" {
				name = string(u)
			}
			body.WriteString(name)
			formatted.WriteString(`<a href="` + html.EscapeString(u.URI().MatrixToURL()) + `">` + html.EscapeString(name) + `</a>`)
			content.Mentions.Add(u)
			rich = true
		case model.MentionAll:
			body.WriteString("@room")
			formatted.WriteString("@room")
			content.Mentions.Room = true
		case model.Reply:
			if content.RelatesTo != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d: only one reply per message", i)
			}
			content.RelatesTo = &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: s.Event}}
			if s.Sender != "" {
				content.Mentions.Add(s.Sender)
			}
		default:
			return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type())
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

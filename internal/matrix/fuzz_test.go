package matrix

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// FuzzMessageSegments feeds untrusted message content to messageSegments: it must never panic,
// and what it returns must be well formed whatever the sender put in.
func FuzzMessageSegments(f *testing.F) {
	// Seeds: the parse vectors, and inputs aimed at the pill marker.
	paths, _ := filepath.Glob(filepath.Join("testdata", "parse", "*.json"))
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var v struct {
			Content event.MessageEventContent `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		c := v.Content
		var users []string
		if c.Mentions != nil {
			for _, u := range c.Mentions.UserIDs {
				users = append(users, string(u))
			}
		}
		f.Add(c.Body, c.FormattedBody, string(c.Format), c.Mentions != nil && c.Mentions.Room, string(c.RelatesTo.GetReplyTo()), strings.Join(users, " "))
	}
	html := string(event.FormatHTML)
	f.Add("a\x00b\x00c", "", "", false, "", "")
	f.Add("", "<a href=\"https://matrix.to/#/@a%00b:example.org\">x</a>", html, false, "", "")
	f.Add("", "<a href=\"https://matrix.to/#/@a\x00b:example.org\">x</a>", html, false, "", "")
	f.Add("", "<img alt=\"\x00@x:y\x00\">&#0;\x00", html, true, "", "")
	f.Add("", "<pre>\x00</pre><svg>\x00</svg><textarea>\x00</textarea>", html, false, "", "")
	f.Add("> <@a:b> q\n\nx", "<mx-reply>q</mx-reply>@room", html, true, "$e", "")
	f.Add("bot: hi", "<a href=\"https://matrix.to/#/@bot:example.org\">bot</a> :, hi", html, false, "", "@bot:example.org")
	f.Add("hi", "", "", false, "$e", "@sender:example.org @bot:example.org @x\x00:y @bot:example.org")
	f.Add("The Bot, /echo hi", "", "", false, "", "@bot:example.org")
	f.Add("", "BOT:<a href=\"https://matrix.to/#/@bot:example.org\">bot</a>", html, false, "", "@bot:example.org")

	// mentions: the user IDs of m.mentions, separated by spaces.
	f.Fuzz(func(t *testing.T, body, formatted, format string, room bool, replyTo, mentions string) {
		content := &event.MessageEventContent{
			MsgType: event.MsgText, Body: body, FormattedBody: formatted, Format: event.Format(format),
		}
		if room || mentions != "" {
			content.Mentions = &event.Mentions{Room: room}
			for _, u := range strings.Fields(mentions) {
				content.Mentions.UserIDs = append(content.Mentions.UserIDs, id.UserID(u))
			}
		}
		if replyTo != "" {
			content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(id.EventID(replyTo))
		}
		typed, plain := messageSegments(content, func(id.EventID) (id.UserID, bool) { return "@sender:example.org", true }, recipient{id: "@bot:example.org", names: []string{"bot", "The Bot"}})
		segs := v12.EncodeSegments(typed) // the checks below read the {type, data} form

		if strings.Contains(plain, pillMark) {
			t.Fatalf("plain %q holds the pill marker", plain)
		}
		mentionAll, mentioned := 0, map[string]bool{}
		for i, s := range segs {
			switch s.Type {
			case "text":
				text, _ := s.Data["text"].(string)
				if text == "" || strings.Contains(text, pillMark) {
					t.Fatalf("segment %d: bad text %q", i, text)
				}
			case "mention":
				u, _ := s.Data["user_id"].(string)
				if len(u) < 2 || u[0] != '@' || strings.Contains(u, pillMark) {
					t.Fatalf("segment %d: bad mention user_id %q", i, u)
				}
				if u == "@bot:example.org" && mentions == "" && i+1 < len(segs) && segs[i+1].Type == "text" && (i == 0 || segs[i-1].Type == "reply") {
					if next, _ := segs[i+1].Data["text"].(string); strings.TrimLeftFunc(next, unicode.IsSpace) != next {
						t.Fatalf("segment %d: the separator after the leading pill of the bot is left: %q", i+1, next)
					}
				}
				mentioned[u] = true
			case "mention_all":
				if !room {
					t.Fatalf("segment %d: mention_all without m.mentions.room", i)
				}
				if mentionAll++; mentionAll > 1 {
					t.Fatalf("segment %d: a second mention_all", i)
				}
			case "reply":
				if i != 0 || s.Data["message_id"] != replyTo {
					t.Fatalf("segment %d: reply %v out of place (reply to %q)", i, s.Data, replyTo)
				}
			default:
				t.Fatalf("segment %d: unexpected type %q", i, s.Type)
			}
		}
		for _, u := range strings.Fields(mentions) {
			valid := func() bool { _, _, err := id.UserID(u).ParseAndValidateRelaxed(); return err == nil }()
			// Users other than the bot may be left out once maxUnshownMentions are shown.
			if valid && (replyTo == "" || u != "@sender:example.org") && !strings.Contains(u, pillMark) && !mentioned[u] &&
				(u == "@bot:example.org" || len(mentioned) < maxUnshownMentions) {
				t.Fatalf("%s is in m.mentions but has no mention segment: %v", u, segs)
			}
		}
		if room && mentionAll != 1 {
			t.Fatalf("m.mentions.room gave %d mention_all segments", mentionAll)
		}
		if replyTo != "" && (len(segs) == 0 || segs[0].Type != "reply") {
			t.Fatalf("reply to %q but no reply segment first: %v", replyTo, segs)
		}
		if (content.Format != event.FormatHTML || formatted == "") && !strings.Contains(mentions, "@bot:example.org") {
			// The body path keeps the text as it is, less the marker (no fallback to strip:
			// mautrix only trusts a body fallback when the HTML had one), unless it starts with a
			// name of the bot mentioned in m.mentions.
			if want := strings.ReplaceAll(body, pillMark, ""); plain != want {
				t.Fatalf("plain = %q, want the body %q", plain, want)
			}
		}
	})
}

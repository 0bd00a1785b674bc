package satori

import (
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/satori/element"
)

// Content renders neutral segments (a message from Matrix) as Satori elements: text, <at id/>
// (with the display name when the segment has one), <at type="all"/>, <quote id> with an
// <author id/> child when the replied sender is known, and <img>/<audio>/<video>/<file> whose src
// is the gateway's signed media link. A location becomes text (Satori has no element for it).
func Content(segs []model.Segment) string { return element.Encode(Elements(segs)) }

// Elements is Content before encoding.
func Elements(segs []model.Segment) []element.Element {
	out := make([]element.Element, 0, len(segs))
	for _, s := range segs {
		switch s := s.(type) {
		case model.Text:
			if s.Text != "" {
				out = append(out, element.TextNode(s.Text))
			}
		case model.Mention:
			out = append(out, element.Tag("at", []string{"id", string(s.User), "name", s.Name}))
		case model.MentionAll:
			out = append(out, element.Tag("at", []string{"type", "all"}))
		case model.Reply:
			q := element.Tag("quote", []string{"id", string(s.Event)})
			if s.Sender != "" {
				q.Children = []element.Element{element.Tag("author", []string{"id", string(s.Sender)})}
			}
			// The reference clients read a reply from a <quote> at the very start.
			out = append([]element.Element{q}, out...)
		case model.Media:
			out = append(out, mediaElement(s))
		case model.Location:
			out = append(out, element.TextNode(strings.TrimSpace(s.Title+" "+formatGeo(s.Latitude, s.Longitude))))
		}
	}
	return out
}

// mediaTags maps neutral media kinds to Satori elements (voice and audio are both <audio>).
var mediaTags = map[model.MediaKind]string{
	model.MediaImage: "img", model.MediaVoice: "audio", model.MediaAudio: "audio", model.MediaVideo: "video", model.MediaFile: "file",
}

func mediaElement(s model.Media) element.Element {
	return element.Tag(mediaTags[s.Kind], []string{"src", s.URL, "title", s.File.Name, "mime-type", s.File.MimeType, "file-id", s.File.ID})
}

// Segments reads a message content from a client into neutral segments, for the bot to send:
//
//	text, <br/>, <p>            text (a paragraph on its own lines)
//	<at id/>                     a mention; <at type="all"/> or type="here" mentions everyone;
//	                             <at role/> and <at name/> alone become "@name" text
//	<quote id/>                  a reply to that message (its children, a copy of it, are left out)
//	<img|image src/>             an image; <audio> a voice message; <video>, <file> likewise: src
//	                             is an http(s) URL, a data: URL or base64:// (fetched by the
//	                             gateway, as for OneBot), or a gateway file id (file-id attribute)
//	<a href>                     its text, with the link after it when the text is not the link
//	<sharp id name/>             "#name"
//	<b> <i> <u> <s> <code> …     their text (styling is left out)
//	<author>, <button>           left out
//	anything else                its children
//
// Adjacent texts are merged. An element that cannot be sent (an <at> without id, type or name,
// a media element without src) is an ErrBadSegmentData error naming it.
func Segments(els []element.Element) ([]model.Segment, error) {
	c := segConv{}
	if err := c.walk(els); err != nil {
		return nil, err
	}
	c.flush()
	return c.out, nil
}

type segConv struct {
	out  []model.Segment
	text strings.Builder
}

func (c *segConv) flush() {
	if c.text.Len() > 0 {
		c.out = append(c.out, model.Text{Text: c.text.String()})
		c.text.Reset()
	}
}

func (c *segConv) add(s model.Segment) {
	c.flush()
	c.out = append(c.out, s)
}

// newline ends the current line unless the text is empty or already ends one.
func (c *segConv) newline() {
	if s := c.text.String(); c.text.Len() > 0 && !strings.HasSuffix(s, "\n") {
		c.text.WriteByte('\n')
	}
}

func (c *segConv) walk(els []element.Element) error {
	for _, e := range els {
		if err := c.element(e); err != nil {
			return err
		}
	}
	return nil
}

func (c *segConv) element(e element.Element) error {
	switch e.Type {
	case "text":
		c.text.WriteString(e.Text)
	case "br":
		c.text.WriteByte('\n')
	case "p":
		c.newline()
		if err := c.walk(e.Children); err != nil {
			return err
		}
		c.newline()
	case "at":
		switch {
		case e.Attr("type") == "all" || e.Attr("type") == "here":
			c.add(model.MentionAll{})
		case e.Attr("id") != "":
			c.add(model.Mention{User: id.UserID(e.Attr("id"))})
		case e.Attr("name") != "" || e.Attr("role") != "":
			c.text.WriteString("@" + firstOf(e.Attr("name"), e.Attr("role")))
		default:
			return model.Errorf(model.ErrBadSegmentData, "<at> needs an id, a type or a name")
		}
	case "quote":
		if e.Attr("id") == "" {
			return model.Errorf(model.ErrBadSegmentData, "<quote> needs the id of the message replied to")
		}
		c.add(model.Reply{Event: id.EventID(e.Attr("id"))})
	case "img", "image", "audio", "video", "file":
		return c.media(e)
	case "a":
		before := c.text.Len()
		if err := c.walk(e.Children); err != nil {
			return err
		}
		href := e.Attr("href")
		if text := c.text.String()[before:]; href != "" && strings.TrimSpace(text) != href {
			if text != "" {
				c.text.WriteString(" (" + href + ")")
			} else {
				c.text.WriteString(href)
			}
		}
	case "sharp":
		c.text.WriteString("#" + firstOf(e.Attr("name"), e.Attr("id")))
	case "author", "button":
	default: // <message>, <template>, styling (b, strong, i, em, u, ins, s, del, spl, code, sup, sub) and unknown elements
		return c.walk(e.Children)
	}
	return nil
}

// mediaKinds maps Satori media elements to neutral media kinds.
var mediaKinds = map[string]model.MediaKind{
	"img": model.MediaImage, "image": model.MediaImage, "audio": model.MediaVoice, "video": model.MediaVideo, "file": model.MediaFile,
}

func (c *segConv) media(e element.Element) error {
	kind := mediaKinds[e.Type]
	if fileID := e.Attr("file-id"); fileID != "" {
		c.add(model.Media{Kind: kind, File: model.FileInfo{ID: fileID}})
		return nil
	}
	src := e.Attr("src")
	if src == "" {
		src = e.Attr("url")
	}
	if src == "" {
		return model.Errorf(model.ErrBadSegmentData, "<%s> needs a src", e.Type)
	}
	c.add(model.Media{Kind: kind, Source: src, File: model.FileInfo{Name: e.Attr("title")}})
	return nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func formatGeo(lat, lon float64) string {
	return "(" + strconv.FormatFloat(lat, 'f', -1, 64) + ", " + strconv.FormatFloat(lon, 'f', -1, 64) + ")"
}

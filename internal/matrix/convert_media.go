package matrix

import (
	"strconv"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
)

// incomingEnv is what converting a received message needs from the session.
type incomingEnv struct {
	reply replyResolver
	self  recipient // the bot that received the message: its leading mention is to_me
	// file records the file of a media message and returns its info and gateway URL; ok is
	// false when media is not available (the message then converts as text).
	file func(*event.MessageEventContent) (info model.FileInfo, url string, ok bool)
}

// mediaKind is the media kind of a media msgtype, or "".
func mediaKind(c *event.MessageEventContent) model.MediaKind {
	switch c.MsgType {
	case event.MsgImage:
		return model.MediaImage
	case event.MsgAudio:
		if c.MSC3245Voice != nil {
			return model.MediaVoice
		}
		return model.MediaAudio
	case event.MsgVideo:
		return model.MediaVideo
	case event.MsgFile:
		return model.MediaFile
	}
	return ""
}

// contentSegments converts any m.room.message content: media become a media segment (plus the
// caption as text), m.location a location segment, every other msgtype converts as text.
func contentSegments(c *event.MessageEventContent, env incomingEnv) ([]model.Segment, string) {
	reply := replySegment(c, env.reply)
	if kind := mediaKind(c); kind != "" && env.file != nil {
		if info, url, ok := env.file(c); ok {
			segs := append(reply, model.Media{Kind: kind, File: info, URL: url})
			plain := "[" + string(kind) + "]"
			if caption := c.GetCaption(); caption != "" {
				segs = append(segs, model.Text{Text: " " + caption})
				plain += " " + caption
			}
			return withIntentionalMentions(segs, c.Mentions, nil, reply, env.self), plain
		}
	}
	if c.MsgType == event.MsgLocation {
		if lat, lon, ok := parseGeoURI(c.GeoURI); ok {
			title := strings.ReplaceAll(c.Body, pillMark, "")
			return append(reply, model.Location{Latitude: lat, Longitude: lon, Title: title}), "[location] " + title
		}
	}
	return textSegments(c, reply, env.self)
}

// parseGeoURI reads "geo:lat,lon[,alt][;params]" (RFC 5870).
func parseGeoURI(s string) (lat, lon float64, ok bool) {
	rest, found := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "geo:")
	if !found {
		return 0, 0, false
	}
	rest, _, _ = strings.Cut(rest, ";")
	parts := strings.Split(rest, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, false
	}
	lat, err1 := strconv.ParseFloat(parts[0], 64)
	lon, err2 := strconv.ParseFloat(parts[1], 64)
	if err1 != nil || err2 != nil || !model.ValidLatLon(lat, lon) {
		return 0, 0, false
	}
	return lat, lon, true
}

func geoURI(lat, lon float64) string {
	return "geo:" + strconv.FormatFloat(lat, 'f', -1, 64) + "," + strconv.FormatFloat(lon, 'f', -1, 64)
}

// outgoingEnv is what building outgoing events needs from the session.
type outgoingEnv struct {
	displayName func(id.UserID) string
	// file makes a stored file available in the room (uploading it when needed).
	file     func(fileID string) (*fileRecord, error)
	msgType  event.MessageType // for text: m.text, m.notice or m.emote
	markdown bool              // text is Markdown: formatted_body is rendered from it
}

// buildContents turns neutral segments into the m.room.message contents to send, in order:
// consecutive text, mentions and @room make one event; each media or location segment is an
// event of its own. A reply segment applies to the first event.
func buildContents(segs []model.Segment, env outgoingEnv) ([]*event.MessageEventContent, error) {
	var reply *model.Reply
	var out []*event.MessageEventContent
	var pending []model.Segment
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		c, err := buildText(pending, env)
		pending = nil
		if err != nil {
			if model.KindOf(err) == model.ErrBadParam { // nothing but empty text: skip it
				return nil
			}
			return err
		}
		out = append(out, c)
		return nil
	}
	for i, s := range segs {
		var c *event.MessageEventContent
		var err error
		switch s := s.(type) {
		case model.Reply:
			if reply != nil {
				return nil, model.Errorf(model.ErrBadSegmentData, "segment %d: only one reply per message", i)
			}
			reply = &s
			continue
		case model.Text, model.Mention, model.MentionAll:
			pending = append(pending, s)
			continue
		case model.Media:
			if err := flush(); err != nil {
				return nil, err
			}
			c, err = buildMedia(i, s, env)
		case model.Location:
			if err := flush(); err != nil {
				return nil, err
			}
			c, err = buildLocation(i, s)
		default:
			return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: type %q is not supported", i, s.Type())
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "message has no content to send")
	}
	if reply != nil {
		if reply.Event == "" {
			return nil, model.Errorf(model.ErrBadSegmentData, "reply: message_id is required")
		}
		out[0].RelatesTo = &event.RelatesTo{InReplyTo: &event.InReplyTo{EventID: reply.Event}}
		if reply.Sender != "" {
			out[0].Mentions.Add(reply.Sender)
		}
	}
	return out, nil
}

// buildText makes one text event (m.text, m.notice or m.emote) of text, mentions and @room.
func buildText(segs []model.Segment, env outgoingEnv) (*event.MessageEventContent, error) {
	var c *event.MessageEventContent
	if env.markdown {
		var md strings.Builder
		mentions := &event.Mentions{}
		for _, s := range segs {
			switch s := s.(type) {
			case model.Text:
				md.WriteString(s.Text)
			case model.Mention:
				u := s.User
				name := env.displayName(u)
				if name == "" {
					name = string(u)
				}
				md.WriteString("[" + markdownEscaper.Replace(name) + "](" + u.URI().MatrixToURL() + ")")
				mentions.Add(u)
			case model.MentionAll:
				md.WriteString("@room")
				mentions.Room = true
			}
		}
		if strings.TrimSpace(md.String()) == "" {
			return nil, model.Errorf(model.ErrBadParam, "message has no content to send")
		}
		rendered := format.RenderMarkdown(md.String(), true, false)
		c = &rendered
		c.Mentions = mentions
	} else {
		var err error
		if c, err = buildContent(segs, env.displayName); err != nil {
			return nil, err
		}
	}
	if env.msgType != "" {
		c.MsgType = env.msgType
	}
	return c, nil
}

var markdownEscaper = strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`)

// mediaMsgTypes maps media kinds to msgtypes.
var mediaMsgTypes = map[model.MediaKind]event.MessageType{
	model.MediaImage: event.MsgImage, model.MediaVoice: event.MsgAudio, model.MediaAudio: event.MsgAudio,
	model.MediaVideo: event.MsgVideo, model.MediaFile: event.MsgFile,
}

func buildMedia(i int, s model.Media, env outgoingEnv) (*event.MessageEventContent, error) {
	fileID := s.File.ID
	if fileID == "" {
		return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): data.file_id is required", i, s.Kind)
	}
	if env.file == nil {
		return nil, model.Errorf(model.ErrUnsupportedSegment, "segment %d: media is not available", i)
	}
	rec, err := env.file(fileID)
	if err != nil {
		if ae, ok := err.(*model.ActionError); ok && ae.Kind == model.ErrNotFound {
			return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (%s): unknown file_id %q", i, s.Kind, fileID)
		}
		return nil, err
	}
	name := rec.Name
	if name == "" {
		name = string(s.Kind)
	}
	c := &event.MessageEventContent{
		MsgType: mediaMsgTypes[s.Kind], Body: name, FileName: name, Mentions: &event.Mentions{},
		Info: &event.FileInfo{MimeType: rec.MimeType, Size: int(rec.Size), Width: rec.Width, Height: rec.Height},
	}
	if rec.File != nil {
		c.File = rec.File
	} else {
		c.URL = rec.MXC
	}
	if s.Kind == model.MediaVoice {
		c.MSC3245Voice = &event.MSC3245Voice{}
	}
	return c, nil
}

func buildLocation(i int, s model.Location) (*event.MessageEventContent, error) {
	lat, lon := s.Latitude, s.Longitude
	if !model.ValidLatLon(lat, lon) {
		return nil, model.Errorf(model.ErrBadSegmentData, "segment %d (location): latitude and longitude must be numbers within ±90 and ±180", i)
	}
	body := strings.TrimSpace(s.Title + "\n" + s.Content)
	if body == "" {
		body = "Location " + geoURI(lat, lon)
	}
	return &event.MessageEventContent{MsgType: event.MsgLocation, Body: body, GeoURI: geoURI(lat, lon), Mentions: &event.Mentions{}}, nil
}

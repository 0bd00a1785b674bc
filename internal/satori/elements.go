package satori

import "github.com/matrix-onebot/gateway/internal/satori/element"

// The message element markup lives in package element; these names keep the face's code short.
type (
	Element    = element.Element
	Attr       = element.Attr
	ParseError = element.ParseError
)

var (
	Parse    = element.Parse
	Tag      = element.Tag
	TextNode = element.TextNode
	Encode   = element.Encode
	Escape   = element.Escape
	Unescape = element.Unescape
)

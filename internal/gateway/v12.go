package gateway

import (
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// OneBot v12 retcodes (the v12 face's).
const (
	v12OK                 = ob12.RetOK
	v12BadRequest         = ob12.RetBadRequest
	v12UnsupportedAction  = ob12.RetUnsupportedAction
	v12BadParam           = ob12.RetBadParam
	v12UnsupportedParam   = ob12.RetUnsupportedParam
	v12UnsupportedSegment = ob12.RetUnsupportedSeg
	v12BadSegmentData     = ob12.RetBadSegmentData
	v12WhoAmI             = ob12.RetWhoAmI
	v12UnknownSelf        = ob12.RetUnknownSelf
	v12InternalHandler    = ob12.RetInternalHandler
	v12NetworkError       = ob12.RetNetworkError
	v12PlatformRefused    = ob12.RetPlatformRefused
	v12BotOffline         = ob12.RetBotOffline
	v12NotFound           = ob12.RetNotFound
	v12Gone               = ob12.RetGone
	v12FileTooLarge       = ob12.RetFileTooLarge
	v12FileSource         = ob12.RetFileSource
	v12RateLimited        = ob12.RetRateLimited
)

// v12Self names a bot in v12 frames.
type v12Self = ob12.Self

// v12StatusData is the status of every bot, or of only that one when only is not nil (a
// connection limited to one bot never learns of the others).
func (fx faces) v12StatusData(only *botEntry) *ob12.Status { return ob12.StatusOf(fx.faceBots(only)) }

// v12StatusUpdateFor is a status_update of one bot (only), or of all when only is nil.
func (fx faces) v12StatusUpdateFor(only *botEntry) []byte {
	return ob12.StatusUpdate(fx.faceBots(only))
}

// v12Request and v12Response are the v12 face's action request and response.
type (
	v12Request  = ob12.Request
	v12Response = ob12.Response
)

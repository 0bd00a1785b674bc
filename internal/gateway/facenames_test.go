package gateway

import (
	"github.com/matrix-onebot/gateway/internal/face"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// The faces' retcodes, types and frames as the hub's tests name them (the hub itself no longer
// needs them: actions run in package calls).

const (
	v11BadRequest = ob11.RetBadRequest

	v12BadRequest         = ob12.RetBadRequest
	v12UnsupportedAction  = ob12.RetUnsupportedAction
	v12BadParam           = ob12.RetBadParam
	v12UnsupportedParam   = ob12.RetUnsupportedParam
	v12UnsupportedSegment = ob12.RetUnsupportedSeg
	v12BadSegmentData     = ob12.RetBadSegmentData
	v12WhoAmI             = ob12.RetWhoAmI
	v12UnknownSelf        = ob12.RetUnknownSelf
	v12InternalHandler    = ob12.RetInternalHandler
	v12PlatformRefused    = ob12.RetPlatformRefused
	v12BotOffline         = ob12.RetBotOffline
	v12NotFound           = ob12.RetNotFound
	v12FileTooLarge       = ob12.RetFileTooLarge
	v12RateLimited        = ob12.RetRateLimited
)

type (
	v11Segment = ob11.Segment
	v12Request = ob12.Request
)

// v12StatusData is the status of every bot, or of only that one when only is not nil (a
// connection limited to one bot never learns of the others).
func (fx faces) v12StatusData(only *botEntry) *ob12.Status { return ob12.StatusOf(fx.faceBots(only)) }

// v11Heartbeat is the v11 heartbeat of one bot.
func (fx faces) v11Heartbeat(b *botEntry) []byte {
	return fx.h.faces.v11.(face.Meta).Heartbeat([]face.Bot{{Bot: b.Bot, SelfID: b.SelfID}}, fx.h.opts.HeartbeatInterval)
}

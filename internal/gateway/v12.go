package gateway

import (
	"encoding/json"

	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// OneBot v12 retcodes (specs: "动作响应" / retcode table).
const (
	v12OK                 = 0
	v12BadRequest         = 10001
	v12UnsupportedAction  = 10002
	v12BadParam           = 10003
	v12UnsupportedParam   = 10004
	v12UnsupportedSegment = 10005
	v12BadSegmentData     = 10006
	v12WhoAmI             = 10101
	v12UnknownSelf        = 10102
	v12InternalHandler    = 20002
	v12NetworkError       = 33001 // homeserver unreachable
	v12PlatformRefused    = 34001 // the homeserver refused; message carries the Matrix errcode
	v12BotOffline         = 34002 // the bot has no working Matrix session
	v12NotFound           = 35001 // the message, user or room asked for is unknown
	v12Gone               = 35002 // the message asked for was redacted (deleted) or is past its retention
	v12FileTooLarge       = 32001 // a file exceeds GATEWAY_MEDIA_MAX_SIZE
	v12FileSource         = 32002 // a file could not be read from the given source
	v12RateLimited        = 36001 // the homeserver asked us to slow down
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

// v12Request is an action request.
type v12Request struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo,omitempty"`
	Self   *v12Self        `json:"self,omitempty"`
}

// v12Response always carries status, retcode, data and message; echo when the request had one.
type v12Response struct {
	Status  string          `json:"status"`
	Retcode int             `json:"retcode"`
	Data    any             `json:"data"`
	Message string          `json:"message"`
	Echo    json.RawMessage `json:"echo,omitempty"`
}

package v12

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// OneBot v12 retcodes (specs: "动作响应" / retcode table).
const (
	RetOK                = 0
	RetBadRequest        = 10001
	RetUnsupportedAction = 10002
	RetBadParam          = 10003
	RetUnsupportedParam  = 10004
	RetUnsupportedSeg    = 10005
	RetBadSegmentData    = 10006
	RetWhoAmI            = 10101
	RetUnknownSelf       = 10102
	RetInternalHandler   = 20002
	RetNetworkError      = 33001 // homeserver unreachable
	RetPlatformRefused   = 34001 // the homeserver refused; message carries the Matrix errcode
	RetBotOffline        = 34002 // the bot has no working Matrix session
	RetNotFound          = 35001 // the message, user or room asked for is unknown
	RetGone              = 35002 // the message asked for was redacted (deleted) or is past its retention
	RetFileTooLarge      = 32001 // a file exceeds GATEWAY_MEDIA_MAX_SIZE
	RetFileSource        = 32002 // a file could not be read from the given source
	RetRateLimited       = 36001 // the homeserver asked us to slow down
)

// Request is an action request.
type Request struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo,omitempty"`
	Self   *Self           `json:"self,omitempty"`
}

// Response always carries status, retcode, data and message; echo when the request had one.
type Response struct {
	Status  string          `json:"status"`
	Retcode int             `json:"retcode"`
	Data    any             `json:"data"`
	Message string          `json:"message"`
	Echo    json.RawMessage `json:"echo,omitempty"`
}

// errNotUTF8 answers a request that is not UTF-8 (RFC 8259 §8.1), without its echo: echoing
// it would put invalid UTF-8 into a text frame.
const errNotUTF8 = "bad request: the request is not valid UTF-8 JSON"

// DecodeRequest reads an action request from a client; when it is not one, the response that
// answers it (with the echo when one can be found).
func DecodeRequest(raw []byte) (*Request, *Response) {
	if !utf8.Valid(raw) {
		return nil, &Response{Status: "failed", Retcode: RetBadRequest, Message: errNotUTF8}
	}
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil || req.Action == "" {
		resp := &Response{Status: "failed", Retcode: RetBadRequest, Message: "bad request: want a JSON object with action and params"}
		if err != nil {
			resp.Message = "bad request: " + err.Error()
		}
		resp.Echo = face.SalvageEcho(raw)
		return nil, resp
	}
	return &req, nil
}

// Fail makes resp a failure with code and msg.
func Fail(resp Response, code int, msg string) Response {
	resp.Status, resp.Retcode, resp.Message, resp.Data = "failed", code, msg, nil
	return resp
}

// Coded is an error that says its own v12 retcode (a client's mistake the handler named).
type Coded interface {
	error
	V12Retcode() int
}

// Retcode maps an action error to a v12 retcode and message.
func Retcode(err error) (int, string) {
	var c Coded
	if errors.As(err, &c) {
		return c.V12Retcode(), c.Error()
	}
	switch model.KindOf(err) {
	case model.ErrBadParam:
		return RetBadParam, err.Error()
	case model.ErrUnsupportedSegment:
		return RetUnsupportedSeg, err.Error()
	case model.ErrBadSegmentData:
		return RetBadSegmentData, err.Error()
	case model.ErrNotFound:
		return RetNotFound, err.Error()
	case model.ErrPlatform:
		return RetPlatformRefused, err.Error()
	case model.ErrNetwork:
		return RetNetworkError, err.Error()
	case model.ErrRateLimited:
		return RetRateLimited, err.Error()
	case model.ErrBotOffline:
		return RetBotOffline, err.Error()
	case model.ErrGone:
		return RetGone, err.Error()
	}
	return RetInternalHandler, err.Error()
}

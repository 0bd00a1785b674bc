package v11

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// OneBot v11 retcodes (go-cqhttp's conventions, which v11 clients know).
const (
	RetOK                = 0
	RetAsync             = 1
	RetFailed            = 100 // the action ran and failed (homeserver refused, network, …)
	RetBadRequest        = 1400
	RetUnauthorized      = 1401
	RetUnsupportedAction = 1404
)

// Request is an action request (WebSocket frame or HTTP body).
type Request struct {
	Action string          `json:"action"`
	Params json.RawMessage `json:"params"`
	Echo   json.RawMessage `json:"echo,omitempty"`
}

// Response is an action response.
type Response struct {
	Status  string          `json:"status"`
	Retcode int             `json:"retcode"`
	Data    any             `json:"data"`
	Msg     string          `json:"msg,omitempty"`
	Wording string          `json:"wording,omitempty"`
	Echo    json.RawMessage `json:"echo,omitempty"`
}

// errNotUTF8 answers a request that is not UTF-8 (RFC 8259 §8.1), without its echo: echoing
// it would put invalid UTF-8 into a text frame.
const errNotUTF8 = "bad request: the request is not valid UTF-8 JSON"

// DecodeRequest reads an action request from a client; when it is not one, the response that
// answers it (with the echo when one can be found).
func DecodeRequest(raw []byte) (*Request, *Response) {
	if !utf8.Valid(raw) {
		return nil, &Response{Status: "failed", Retcode: RetBadRequest, Msg: errNotUTF8, Wording: errNotUTF8}
	}
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil || req.Action == "" {
		resp := &Response{Status: "failed", Retcode: RetBadRequest, Msg: "bad request: want a JSON object with action and params"}
		if err != nil {
			resp.Msg = "bad request: " + err.Error()
		}
		resp.Wording, resp.Echo = resp.Msg, face.SalvageEcho(raw)
		return nil, resp
	}
	return &req, nil
}

// Fail makes resp a failure: the retcode and message of err.
func Fail(resp Response, err error) Response {
	code, msg := Retcode(err)
	resp.Status, resp.Retcode, resp.Msg, resp.Wording = "failed", code, msg, msg
	return resp
}

// Coded is an error that says its own v11 retcode (a client's mistake the handler named).
type Coded interface {
	error
	V11Retcode() int
}

// Retcode maps an action error to a v11 retcode and message.
func Retcode(err error) (int, string) {
	var c Coded
	if errors.As(err, &c) {
		return c.V11Retcode(), c.Error()
	}
	switch model.KindOf(err) {
	case model.ErrBadParam, model.ErrUnsupportedSegment, model.ErrBadSegmentData:
		return RetBadRequest, err.Error()
	}
	return RetFailed, err.Error()
}

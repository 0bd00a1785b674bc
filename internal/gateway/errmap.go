package gateway

import (
	"errors"

	"github.com/matrix-onebot/gateway/internal/model"
)

// v12Retcode maps an action error to a v12 retcode and message.
func v12Retcode(err error) (int, string) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.v12, pe.msg
	}
	switch model.KindOf(err) {
	case model.ErrBadParam:
		return v12BadParam, err.Error()
	case model.ErrUnsupportedSegment:
		return v12UnsupportedSegment, err.Error()
	case model.ErrBadSegmentData:
		return v12BadSegmentData, err.Error()
	case model.ErrNotFound:
		return v12NotFound, err.Error()
	case model.ErrPlatform:
		return v12PlatformRefused, err.Error()
	case model.ErrNetwork:
		return v12NetworkError, err.Error()
	case model.ErrRateLimited:
		return v12RateLimited, err.Error()
	case model.ErrBotOffline:
		return v12BotOffline, err.Error()
	case model.ErrGone:
		return v12Gone, err.Error()
	}
	return v12InternalHandler, err.Error()
}

// v11Retcode maps an action error to a v11 retcode and message.
func v11Retcode(err error) (int, string) {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.v11, pe.msg
	}
	switch model.KindOf(err) {
	case model.ErrBadParam, model.ErrUnsupportedSegment, model.ErrBadSegmentData:
		return v11BadRequest, err.Error()
	}
	return v11Failed, err.Error()
}

package gateway

import (
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// v12Retcode maps an action error to a v12 retcode and message (the v12 face's mapping).
func v12Retcode(err error) (int, string) { return ob12.Retcode(err) }

// v11Retcode maps an action error to a v11 retcode and message (the v11 face's mapping).
func v11Retcode(err error) (int, string) { return ob11.Retcode(err) }

// V12Retcode and V11Retcode say a protoError's code in each protocol (ob12.Coded, ob11.Coded).
func (e *protoError) V12Retcode() int { return e.v12 }
func (e *protoError) V11Retcode() int { return e.v11 }

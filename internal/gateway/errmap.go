package gateway

import (
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// v12Retcode maps an action error to a v12 retcode and message (the v12 face's mapping).
func v12Retcode(err error) (int, string) { return ob12.Retcode(err) }

// v11Retcode maps an action error to a v11 retcode and message (the v11 face's mapping).
func v11Retcode(err error) (int, string) { return ob11.Retcode(err) }

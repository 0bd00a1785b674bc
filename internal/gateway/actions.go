package gateway

import (
	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// The action side of the faces is package onebot: a handler gets a call with the hub's services
// (actionHost, onebot.Host); each face has its handlers and its rows of the action table
// (ob12.Actions, ob11.Actions).
type (
	handler    = onebot.Handler
	call       = onebot.Call
	action     = onebot.Action
	noData     = onebot.NoData
	protoError = onebot.ProtoError
	flexInt    = onebot.FlexInt
	flexBool   = onebot.FlexBool
)

func protoErr(v12, v11 int, format string, args ...any) *protoError {
	return onebot.ProtoErr(v12, v11, format, args...)
}

// withParams and noParams adapt handlers (onebot.WithParams, onebot.NoParams).
func withParams[P, R any](fn func(c *call, p P) (R, error)) handler { return onebot.WithParams(fn) }

func noParams[R any](fn func(c *call) (R, error)) handler { return onebot.NoParams(fn) }

// actions is THE action table: dispatch, get_supported_actions and the OpenAPI check
// (api/openapi.yaml, see openapi_test.go) all read it and nothing else.
var actions = onebot.NewTable(ob12.Actions(), ob11.Actions())

// actionTable lists the rows of the action table.
var actionTable = actions.Rows()

func lookupAction(version int, name string) *action { return actions.Lookup(version, name) }

// supportedActions returns the names of one version's actions, sorted.
func supportedActions(version int) []string { return actions.Supported(version) }

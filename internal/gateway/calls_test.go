package gateway

import (
	"github.com/matrix-onebot/gateway/internal/gateway/calls"
	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// The action table, the faces' error mapping and the reply scopes as the hub's tests name them
// (package calls runs the actions).
var actionTable = calls.Table.Rows()

func lookupAction(version int, name string) *onebot.Action { return calls.Table.Lookup(version, name) }

func supportedActions(version int) []string { return calls.Supported(version) }

func v12Retcode(err error) (int, string) { return ob12.Retcode(err) }
func v11Retcode(err error) (int, string) { return ob11.Retcode(err) }

type (
	action     = onebot.Action
	protoError = onebot.ProtoError
	noData     = onebot.NoData
)

const (
	ReplyScopeEvent = calls.ReplyScopeEvent
	ReplyScopeBot   = calls.ReplyScopeBot
)

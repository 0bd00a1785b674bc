package calls

import (
	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// The action side of the faces is package onebot: a handler gets a call with the hub's services
// (actionHost, onebot.Host); each face has its handlers and its rows of the action table
// (ob12.Actions, ob11.Actions).

// Table is THE action table: dispatch, get_supported_actions and the OpenAPI check
// (api/openapi.yaml, see the hub's openapi_test.go) all read it and nothing else.
var Table = onebot.NewTable(ob12.Actions(), ob11.Actions())

func lookup(version int, name string) *onebot.Action { return Table.Lookup(version, name) }

// Supported returns the names of one version's actions, sorted.
func Supported(version int) []string { return Table.Supported(version) }

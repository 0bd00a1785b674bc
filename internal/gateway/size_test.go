package gateway

import (
	"testing"

	"github.com/matrix-onebot/gateway/test/shape"
)

// No type of the hub has more than 25 methods, promoted ones included (issue 11): the hub hands
// its work to collaborators (webFront, botRegistry, fanout, faces) and to packages calls and
// push. test/shape holds every package of the module to the same limits; this check stays next
// to the hub, where a new method would be added.
func TestNoTypeAbove25Methods(t *testing.T) {
	p, err := shape.Measure(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range p.Types {
		if typ.Methods > shape.MaxMethods {
			t.Errorf("type %s has %d methods, want at most %d", typ.Name, typ.Methods, shape.MaxMethods)
		}
	}
}

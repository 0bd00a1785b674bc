package model

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

type testMuter struct{ name string }

func (testMuter) Mute(context.Context, id.RoomID, id.UserID, time.Duration) error { return nil }

type testFaceted struct{ facets []any }

func (f testFaceted) Facets() []any { return f.facets }

type testBoth struct {
	testMuter
	testFaceted
}

// As finds an optional interface on the value itself first, then among its facets in order, and
// reports false when none serves it.
func TestAs(t *testing.T) {
	if m, ok := As[Muter](testMuter{name: "self"}); !ok || m.(testMuter).name != "self" {
		t.Errorf("a value that is a Muter: got %v, %t", m, ok)
	}
	faceted := testFaceted{facets: []any{"not a muter", testMuter{name: "first"}, testMuter{name: "second"}}}
	if m, ok := As[Muter](faceted); !ok || m.(testMuter).name != "first" {
		t.Errorf("a Muter among the facets: got %v, %t; want the first one", m, ok)
	}
	both := testBoth{testMuter{name: "self"}, testFaceted{facets: []any{testMuter{name: "facet"}}}}
	if m, ok := As[Muter](both); !ok || m.(testBoth).name != "self" {
		t.Errorf("a Muter that also has a Muter facet: got %v, %t; want itself", m, ok)
	}
	if m, ok := As[Moderator](faceted); ok || m != nil {
		t.Errorf("no Moderator anywhere: got %v, %t", m, ok)
	}
	if _, ok := As[Muter](nil); ok {
		t.Error("nil is no Muter")
	}
	if _, ok := As[Muter](testFaceted{}); ok {
		t.Error("no facets: no Muter")
	}
}

package model

import (
	"reflect"
	"testing"
)

// No interface of the model has more than 25 methods (issue 11): what a bot serves beyond that
// is an optional interface asked for with As.
func TestInterfacesWithin25Methods(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[Bot](), reflect.TypeFor[RoomActions](), reflect.TypeFor[RawAPI](), reflect.TypeFor[Sink](),
	} {
		if n := typ.NumMethod(); n > 25 {
			t.Errorf("%s has %d methods, want at most 25", typ, n)
		}
	}
}

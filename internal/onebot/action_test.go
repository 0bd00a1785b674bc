package onebot_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/matrix-onebot/gateway/internal/onebot"
	ob11 "github.com/matrix-onebot/gateway/internal/onebot/v11"
	ob12 "github.com/matrix-onebot/gateway/internal/onebot/v12"
)

// The errors made in package onebot carry the codes each face answers with: the same numbers
// as the faces' own retcodes (package onebot cannot import the faces, so it repeats them).
func TestProtoErrorsCarryTheFacesRetcodes(t *testing.T) {
	for _, tc := range []struct {
		err      error
		v12, v11 int
	}{
		{onebot.ErrUnsupportedAction("x"), ob12.RetUnsupportedAction, ob11.RetUnsupportedAction},
		{onebot.ErrUnsupportedParam("x"), ob12.RetUnsupportedParam, ob11.RetBadRequest},
		{onebot.ErrWhoAmI("x"), ob12.RetWhoAmI, ob11.RetBadRequest},
		{onebot.ErrFileTooLarge("x"), ob12.RetFileTooLarge, ob11.RetBadRequest},
	} {
		wrapped := fmt.Errorf("context: %w", tc.err)
		if got, _ := ob12.Retcode(wrapped); got != tc.v12 {
			t.Errorf("%v: v12 retcode %d, want %d", tc.err, got, tc.v12)
		}
		if got, _ := ob11.Retcode(wrapped); got != tc.v11 {
			t.Errorf("%v: v11 retcode %d, want %d", tc.err, got, tc.v11)
		}
	}
	err := (&onebot.Call{Params: []byte(`{"A":"x"}`)}).Decode(new(struct{ A int }))
	if got, _ := ob12.Retcode(err); got != ob12.RetBadParam {
		t.Errorf("malformed params: v12 retcode %d, want %d", got, ob12.RetBadParam)
	}
	if got, _ := ob11.Retcode(err); got != ob11.RetBadRequest {
		t.Errorf("malformed params: v11 retcode %d, want %d", got, ob11.RetBadRequest)
	}
	if !onebot.IsUnsupportedAction(fmt.Errorf("w: %w", onebot.ErrUnsupportedAction("x"))) || onebot.IsUnsupportedAction(errors.New("x")) {
		t.Error("IsUnsupportedAction")
	}
}

// The table indexes each version's rows, lists them sorted and refuses a row listed twice.
func TestTable(t *testing.T) {
	h := onebot.NoParams(func(*onebot.Call) (*onebot.NoData, error) { return nil, nil })
	tb := onebot.NewTable([]onebot.Action{{Version: 12, Name: "b", Handle: h}, {Version: 11, Name: "b", Handle: h}},
		[]onebot.Action{{Version: 12, Name: "a", Handle: h}})
	if got := fmt.Sprint(tb.Supported(12)); got != "[a b]" {
		t.Fatalf("supported v12 = %s", got)
	}
	if tb.Lookup(11, "b") == nil || tb.Lookup(11, "a") != nil {
		t.Fatal("lookup mixes the versions")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a row listed twice was accepted")
		}
	}()
	onebot.NewTable([]onebot.Action{{Version: 11, Name: "x"}, {Version: 11, Name: "x"}})
}

package gateway

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// facetedBot serves model.Bot itself and every optional interface through a facet only: the
// embedded interface promotes the Bot methods and nothing else.
type facetedBot struct {
	model.Bot
	facets []any
}

func (f facetedBot) Facets() []any { return f.facets }

// The actions that need an optional interface (a mute, power levels, a send with options or an
// idempotency key) reach it through a bot's facets as they do on the bot itself.
func TestOptionalInterfacesThroughFacets(t *testing.T) {
	h, _, db := newTestHub(t, "")
	inner := fakes.NewFakeBot("@faceted:example.org")
	h.AddBot(facetedBot{Bot: inner, facets: append([]any{"not a facet of use"}, inner.Facets()...)}, 10002)
	if _, ok := any(facetedBot{Bot: inner}).(model.Muter); ok {
		t.Fatal("the test bot must not be a Muter itself")
	}
	bot := h.reg.botByUser("@faceted:example.org")
	if bot == nil {
		t.Fatal("the faceted bot is not in the hub")
	}
	ctx := context.Background()
	room, _ := db.IDs().V11ID(ctx, storage.KindRoom, "!room:example.org")
	alice, _ := db.IDs().V11ID(ctx, storage.KindUser, "@alice:example.org")
	r, a := id.RoomID("!room:example.org"), id.UserID("@alice:example.org")
	for _, tc := range []struct {
		version      int
		action, args string
		want         fakes.FakeCall
	}{
		{12, "matrix.mute", `{"group_id":"!room:example.org","user_id":"@alice:example.org","duration":5}`,
			fakes.FakeCall{Method: "Mute", Args: []any{r, a, 5 * time.Second}}},
		{11, "set_group_admin", fmt.Sprintf(`{"group_id":%d,"user_id":%d}`, room, alice),
			fakes.FakeCall{Method: "SetAdmin", Args: []any{r, a, true}}},
		{12, "matrix.raw_request", `{"method":"GET","path":"/_matrix/client/v3/account/whoami"}`,
			fakes.FakeCall{Method: "RawRequest", Args: []any{"GET", "/_matrix/client/v3/account/whoami", "map[]", ""}}},
		{11, "matrix.get_room_state", fmt.Sprintf(`{"group_id":%d,"event_type":"m.room.name"}`, room),
			fakes.FakeCall{Method: "RoomState", Args: []any{r, "m.room.name", ""}}},
	} {
		before := len(inner.Actions.Calls())
		if _, err := h.calls.Run(ctx, tc.version, bot, tc.action, []byte(tc.args)); err != nil {
			t.Fatalf("%s through a facet: %v", tc.action, err)
		}
		calls := inner.Actions.Calls()
		if len(calls) != before+1 || !reflect.DeepEqual(calls[len(calls)-1], tc.want) {
			t.Errorf("%s: bot got %#v, want %#v", tc.action, calls[before:], tc.want)
		}
	}
	// send_message with a msgtype needs a model.OptionSender, with a key a model.IdempotentSender.
	for i, args := range []string{
		`{"detail_type":"group","group_id":"!room:example.org","message":[{"type":"text","data":{"text":"hi"}}],"matrix.msgtype":"m.notice"}`,
		`{"detail_type":"group","group_id":"!room:example.org","message":[{"type":"text","data":{"text":"hi"}}],"matrix.txn_id":"k1"}`,
	} {
		if _, err := h.calls.Run(ctx, 12, bot, "send_message", []byte(args)); err != nil {
			t.Fatalf("send_message %s through a facet: %v", args, err)
		}
		if n := len(inner.Sent()); n != i+1 {
			t.Fatalf("send_message %s: the bot sent %d messages, want %d", args, n, i+1)
		}
	}
}

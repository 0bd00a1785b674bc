package matrix

import (
	"testing"

	"github.com/matrix-onebot/gateway/internal/model"
)

// The hub finds each optional interface of a bot with model.As: the Bot serves all of them
// through its facets, as the Session did by itself before it was split.
func TestBotServesEveryOptionalInterface(t *testing.T) {
	h := newHarness(t)
	var bot model.Bot = h.session(t, newRecordingSink(), nil).Bot()
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("the bot serves no %s", name)
		}
	}
	_, ok := model.As[model.OptionSender](bot)
	check("model.OptionSender", ok)
	_, ok = model.As[model.IdempotentSender](bot)
	check("model.IdempotentSender", ok)
	_, ok = model.As[model.MessageGetter](bot)
	check("model.MessageGetter", ok)
	_, ok = model.As[model.Muter](bot)
	check("model.Muter", ok)
	_, ok = model.As[model.Moderator](bot)
	check("model.Moderator", ok)
	_, ok = model.As[model.RawAPI](bot)
	check("model.RawAPI", ok)
	if n, ok := bot.(interface{ Name() string }); !ok || n.Name() == "" {
		t.Error("the bot has no configured name for the hub")
	}
}

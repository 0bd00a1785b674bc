package model

// A Bot's optional interfaces (IdempotentSender, OptionSender, MessageGetter, Muter, Moderator)
// need not be methods of the Bot value itself: a bot may serve them through collaborators, its
// facets, so that no one type carries every action. Callers ask with As, never with a bare type
// assertion, so that both kinds of bot work.

// Faceted is a Bot that serves some of its optional interfaces through other values.
type Faceted interface {
	// Facets returns the values that serve the bot's optional interfaces.
	Facets() []any
}

// As returns b as a T: b itself when it is one, else the first of its facets that is (ok false
// when neither is).
func As[T any](b any) (T, bool) {
	if t, ok := b.(T); ok {
		return t, true
	}
	if f, ok := b.(Faceted); ok {
		for _, v := range f.Facets() {
			if t, ok := v.(T); ok {
				return t, true
			}
		}
	}
	var zero T
	return zero, false
}

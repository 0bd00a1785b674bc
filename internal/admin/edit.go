package admin

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// BotEditor is a Backend that can also change the bot list while the gateway runs: the page
// then shows a form to add a bot, a Remove button per bot and a Reload button.
type BotEditor interface {
	// AddBot validates one MATRIX_BOTS object (JSON) as the configuration does and starts that
	// bot; it returns the bot's name.
	AddBot(ctx context.Context, botJSON string) (name string, err error)
	// RemoveBot stops bot index and takes it out, if its name is still name (the list may have
	// changed since the page was shown).
	RemoveBot(ctx context.Context, index int, name string) error
	// Reload loads the configuration again and applies its bot list, as SIGHUP does.
	Reload(ctx context.Context) error
}

// maxBotJSON bounds the bot object of the add form (the form body is bounded too).
const maxBotJSON = 8 << 10

func (h *Handler) editor(w http.ResponseWriter) (BotEditor, bool) {
	e, ok := h.opts.Backend.(BotEditor)
	if !ok {
		http.Error(w, "This gateway cannot change its bots from the page.", http.StatusNotFound)
	}
	return e, ok
}

// done redirects to the page with a note.
func done(w http.ResponseWriter, r *http.Request, note string) {
	http.Redirect(w, r, "/admin?m="+url.QueryEscape(note), http.StatusSeeOther)
}

func (h *Handler) addBot(w http.ResponseWriter, r *http.Request, _ *session) {
	e, ok := h.editor(w)
	if !ok {
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("bot"))
	if raw == "" || len(raw) > maxBotJSON {
		http.Error(w, "Enter one bot as a JSON object (a MATRIX_BOTS entry), at most 8 KiB.", http.StatusBadRequest)
		return
	}
	name, err := e.AddBot(r.Context(), raw)
	if err != nil {
		http.Error(w, "The bot was not added: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.log.Info("admin page: bot added by the operator", "bot", name)
	done(w, r, "added "+name+" (until the next restart or reload: add it to the configuration to keep it)")
}

func (h *Handler) removeBot(w http.ResponseWriter, r *http.Request, _ *session) {
	e, ok := h.editor(w)
	if !ok {
		return
	}
	i, ok := h.botIndex(w, r)
	if !ok {
		return
	}
	name := r.PostFormValue("name")
	if err := e.RemoveBot(r.Context(), i, name); err != nil {
		http.Error(w, "The bot was not removed: "+err.Error(), http.StatusConflict)
		return
	}
	h.log.Info("admin page: bot removed by the operator", "bot", name)
	done(w, r, "removed "+name+" (until the next restart or reload: remove it from the configuration to keep it out)")
}

func (h *Handler) reload(w http.ResponseWriter, r *http.Request, _ *session) {
	e, ok := h.editor(w)
	if !ok {
		return
	}
	if err := e.Reload(r.Context()); err != nil {
		http.Error(w, "The configuration was not reloaded: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.log.Info("admin page: configuration reloaded by the operator")
	done(w, r, "configuration reloaded")
}

func isEditor(b Backend) bool { _, ok := b.(BotEditor); return ok }

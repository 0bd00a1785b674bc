package intake

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// ServeFile answers GET or HEAD /media/{fileID}?exp=…&sig=…: no token, but a valid signature
// (403 otherwise) and not expired (410). A nil Media, or one without a store, answers 404.
// log takes what goes wrong on the gateway's side.
func (m *Media) ServeFile(w http.ResponseWriter, r *http.Request, fileID string, log *slog.Logger) {
	files := m.Files()
	if files == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "media is not configured"})
		return
	}
	q := r.URL.Query()
	switch err := files.CheckURL(fileID, q.Get("exp"), q.Get("sig"), time.Now()); {
	case errors.Is(err, model.ErrURLExpired):
		writeJSON(w, http.StatusGone, map[string]string{"error": "this link has expired: ask for the message or the file again"})
		return
	case err != nil:
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "this link is not valid"})
		return
	}
	info, rc, err := files.Open(r.Context(), fileID)
	if err != nil {
		if model.KindOf(err) == model.ErrNotFound {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such file"})
			return
		}
		log.Warn("failed to serve a file", "file_id", fileID, "error", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "the file cannot be fetched from the homeserver now"})
		return
	}
	defer rc.Close()
	ctype := info.MimeType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	disposition := "attachment"
	for _, p := range []string{"image/", "audio/", "video/"} {
		if strings.HasPrefix(ctype, p) && ctype != "image/svg+xml" {
			disposition = "inline"
		}
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	if info.Name != "" {
		if v := mime.FormatMediaType(disposition, map[string]string{"filename": info.Name}); v != "" {
			disposition = v
		}
	}
	hdr.Set("Content-Disposition", disposition)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	hdr.Set("Cache-Control", "private, max-age=3600")
	if f, ok := rc.(*os.File); ok {
		http.ServeContent(w, r, "", time.Time{}, f)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		// The status and the first bytes went out already: only a broken response tells the
		// client that what it got is not the file (an encrypted attachment whose ciphertext is
		// not the one its event names fails at its end).
		if r.Context().Err() == nil {
			log.Warn("failed to serve a file; the response was aborted", "file_id", fileID, "error", err)
		}
		panic(http.ErrAbortHandler)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(face.MustJSON(v))
}

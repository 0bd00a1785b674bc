package intake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
)

// fakeFailingFiles is a file store whose files fail at their end, as the stream of an encrypted
// attachment does when the homeserver served another ciphertext than the event names (the hash
// is known only once every byte was read). Only CheckURL and Open are used by ServeFile.
type fakeFailingFiles struct {
	model.Files
	body []byte
}

func (fakeFailingFiles) CheckURL(string, string, string, time.Time) error { return nil }

func (f fakeFailingFiles) Open(context.Context, string) (model.FileInfo, io.ReadCloser, error) {
	r := io.MultiReader(bytes.NewReader(f.body), errReader{errors.New("hash mismatch")})
	return model.FileInfo{Name: "receipt.txt", MimeType: "text/plain"}, io.NopCloser(r), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// A /media response whose file fails while it is sent (an encrypted attachment the homeserver
// altered) is aborted, so that the client sees a broken response and not a whole file: its
// headers went out already, so no error status can be sent. Before, the response ended as if
// the bytes read so far were the whole file.
func TestServeFileAbortsWhenTheFileFails(t *testing.T) {
	body := bytes.Repeat([]byte("altered "), 8<<10) // past the response buffer: the 200 goes out
	m := New(Options{Files: fakeFailingFiles{body: body}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeFile(w, r, "mfile", slog.New(slog.DiscardHandler))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/media/mfile?exp=1&sig=x")
	if err != nil {
		return // aborted before the status line: fine
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the response ended cleanly with %d bytes (status %d); want it aborted", len(got), resp.StatusCode)
	}
}

package media

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/config"
	"github.com/matrix-onebot/gateway/internal/matrix/account"
)

// fakeHostileMedia is a homeserver's media repository that serves fixed bytes for every mxc: the
// ciphertext of an encrypted attachment, or that ciphertext altered. A real homeserver that
// alters what it stores cannot be had in a test.
type fakeHostileMedia struct {
	user id.UserID
	data []byte
}

func (f fakeHostileMedia) UserID() id.UserID { return f.user }

func (f fakeHostileMedia) Download(context.Context, id.ContentURIString) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

// An encrypted attachment's plaintext is used only when the ciphertext the homeserver served has
// the SHA-256 the (end-to-end encrypted) event promised: AES-CTR is malleable, so a homeserver
// that flips bits of the ciphertext flips the same bits of the plaintext. Before, the hash was
// checked only when the stream was closed, and every caller ignored that error: the /media link,
// get_file (data and path) and a resend into another room all used the altered plaintext, and
// get_file path cached it on disk as the file.
func TestTamperedEncryptedAttachmentIsRefused(t *testing.T) {
	plain := []byte("pay 10 coins to @alice:example.org, signed: the treasurer")
	ef := attachment.NewEncryptedFile()
	cipherText := bytes.Clone(plain)
	ef.EncryptInPlace(cipherText)
	const mxc = id.ContentURIString("mxc://example.org/receipt")
	u := id.UserID("@bot:example.org")
	rec := &Record{Name: "receipt.txt", MXC: mxc, File: &event.EncryptedFileInfo{EncryptedFile: *ef, URL: mxc}, Bot: u}

	tampered := bytes.Clone(cipherText)
	tampered[4] ^= '1' ^ '9' // "pay 10" → "pay 90"

	for _, tc := range []struct {
		name    string
		served  []byte
		refused bool
	}{{"as sent", cipherText, false}, {"altered by the homeserver", tampered, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
			m.Register(fakeHostileMedia{user: u, data: tc.served})
			const fileID = "mreceipt"
			if err := m.saveRecord(ctx, fileID, rec); err != nil {
				t.Fatal(err)
			}

			_, rc, err := m.Open(ctx, fileID)
			if err != nil {
				t.Fatal(err)
			}
			got, readErr := io.ReadAll(rc)
			closeErr := rc.Close()
			switch {
			case tc.refused && readErr == nil:
				t.Fatalf("Open: reading the altered attachment succeeded (%q); want an error before the end of the stream", got)
			case tc.refused && closeErr == nil:
				t.Fatal("Open: closing the altered attachment's stream reported no error")
			case !tc.refused && (readErr != nil || closeErr != nil || !bytes.Equal(got, plain)):
				t.Fatalf("Open: %q, read %v, close %v; want the plaintext", got, readErr, closeErr)
			}
			if tc.refused && !errors.Is(readErr, attachment.ErrHashMismatch) {
				t.Fatalf("Open: reading the altered attachment failed with %v; want attachment.ErrHashMismatch", readErr)
			}

			p, _, err := m.LocalPath(ctx, fileID)
			if tc.refused {
				if err == nil {
					t.Fatalf("LocalPath: the altered attachment was stored at %s", p)
				}
				if r, _ := m.record(ctx, fileID); r == nil || r.Local {
					t.Fatal("LocalPath: the record says the altered attachment is stored locally")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A file sent into an encrypted room goes to the homeserver as ciphertext, and its name stays in
// the encrypted event: the upload carries no filename (as Element uploads encrypted files), since
// the name a client gives ("salary-review-bob.pdf") is as private as the file. Before, the
// upload's ?filename= told the homeserver. An upload for an unencrypted room keeps its name.
func TestEncryptedUploadSendsNoFileName(t *testing.T) {
	var names []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/media/v3/upload") {
			http.NotFound(w, r)
			return
		}
		names = append(names, r.URL.Query().Get("filename"))
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"content_uri": "mxc://example.org/up`+strconv.Itoa(len(names))+`"}`)
	}))
	defer hs.Close()
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
	acct, err := account.New(account.Options{Bot: config.Bot{Homeserver: hs.URL, UserID: "@bot:example.org", AccessToken: "tok"},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	files := NewFiles(acct, m)
	ctx := context.Background()
	info, err := m.Put(ctx, "salary-review-bob.pdf", "application/pdf", strings.NewReader("%PDF-1.7 private"))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := files.Upload(ctx, "!encrypted:example.org", info.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if rec.File == nil || rec.Name != "salary-review-bob.pdf" {
		t.Fatalf("the encrypted upload's record: %+v; want an encrypted file that keeps its name for the event", rec)
	}
	if _, err := files.Upload(ctx, "!plain:example.org", info.ID, false); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != "" || names[1] != "salary-review-bob.pdf" {
		t.Fatalf("filenames the homeserver was told: %q; want none for the encrypted room, the name for the other", names)
	}
}

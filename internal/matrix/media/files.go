package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/matrix/account"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Files is one bot's way to the file store: it records the media the bot receives, uploads
// files the bot sends, and downloads through the bot's homeserver for the store.
type Files struct {
	acct  *account.Account
	store *Store // nil = no media
}

// NewFiles returns acct's way to store (nil: the bot has no media) and registers it with the
// store as a downloader.
func NewFiles(acct *account.Account, store *Store) *Files {
	f := &Files{acct: acct, store: store}
	if store != nil {
		store.Register(f)
	}
	return f
}

// Close unregisters f from the store (a bot removed while the gateway runs).
func (f *Files) Close() {
	if f.store != nil {
		f.store.Unregister(f)
	}
}

// UserID is the bot's (Downloader).
func (f *Files) UserID() id.UserID { return f.acct.UserID() }

// URL is the store's signed URL of a file.
func (f *Files) URL(fileID string) string { return f.store.URL(fileID) }

// RegisterIncoming records the file of a received media message and returns its info. The id is
// derived from the mxc URI and, for an encrypted attachment, from its key, IV and hash, so the
// same file always gets the same id, and an event that names the mxc of an attachment seen
// elsewhere (the homeserver knows every mxc) without its key never gets that attachment's record
// with the key that decrypts it.
func (f *Files) RegisterIncoming(ctx context.Context, c *event.MessageEventContent) (model.FileInfo, bool) {
	m := f.store
	rec := &Record{Bot: f.acct.UserID(), File: c.File, MXC: c.URL, Name: c.GetFileName()}
	if c.File != nil {
		rec.MXC = c.File.URL
	}
	if rec.MXC == "" || m == nil {
		return model.FileInfo{}, false
	}
	if c.Info != nil {
		rec.MimeType, rec.Size, rec.Width, rec.Height = c.Info.MimeType, int64(c.Info.Size), c.Info.Width, c.Info.Height
	}
	fileID := incomingFileID(rec)
	raw, _ := json.Marshal(rec)
	stored, err := m.db.Files().GetOrPutFileRecord(ctx, fileID, string(raw), rec.File != nil)
	if err != nil {
		f.acct.Log().Warn("failed to record received file", "mxc", rec.MXC, "error", err)
		return model.FileInfo{}, false
	}
	var got Record
	if err := json.Unmarshal([]byte(stored), &got); err != nil || !sameAttachment(&got, rec) {
		// A record of an older version (its id came from the mxc alone) for another key.
		f.acct.Log().Warn("a received file's id belongs to another file; the file is not offered", "file_id", fileID)
		return model.FileInfo{}, false
	}
	return got.Info(fileID), true
}

// incomingFileID is the file id of a received file: of its mxc, and of its key, IV and hash when
// it is an encrypted attachment.
func incomingFileID(rec *Record) string {
	h := sha256.New()
	h.Write([]byte(rec.MXC))
	if f := rec.File; f != nil {
		for _, part := range []string{"encrypted", f.Key.Key, f.InitVector, f.Hashes.SHA256} {
			h.Write([]byte{0})
			h.Write([]byte(part))
		}
	}
	return "m" + hex.EncodeToString(h.Sum(nil)[:16])
}

// sameAttachment tells whether two records are of the same received file: the same mxc, and
// the same key when encrypted.
func sameAttachment(a, b *Record) bool {
	if a.MXC != b.MXC || (a.File == nil) != (b.File == nil) {
		return false
	}
	return a.File == nil || a.File.Key.Key == b.File.Key.Key && a.File.InitVector == b.File.InitVector &&
		a.File.Hashes.SHA256 == b.File.Hashes.SHA256
}

// Upload makes a stored file available in room: the mxc it already has when that fits (an
// unencrypted file into an unencrypted room, or the same encrypted attachment into an encrypted
// room), else the bytes are uploaded, encrypted when the room needs it.
// encrypt says whether the room is encrypted (crypt.Policy.MustEncrypt decided it before the
// message was built).
func (f *Files) Upload(ctx context.Context, room id.RoomID, fileID string, encrypt bool) (*Record, error) {
	m := f.store
	if m == nil {
		return nil, model.Errorf(model.ErrUnsupportedSegment, "media is not configured")
	}
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return nil, err
	}
	if rec.MXC != "" && (rec.File != nil) == encrypt {
		return rec, nil
	}
	rc, err := m.openRecord(ctx, fileID, rec)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, m.maxSize+1))
	rc.Close()
	if err != nil {
		return nil, &model.ActionError{Kind: model.ErrNetwork, Message: "failed to read the file", Err: err}
	}
	if int64(len(data)) > m.maxSize {
		return nil, &model.ActionError{Kind: model.ErrBadParam, Message: fmt.Sprintf("the file is larger than %d bytes", m.maxSize), Err: model.ErrTooLarge}
	}
	out := *rec
	out.Size = int64(len(data))
	ctype, name := rec.MimeType, rec.Name
	var file *event.EncryptedFileInfo
	if encrypt {
		// The homeserver gets ciphertext and nothing that tells what it is: neither the type
		// nor the name (as Element uploads encrypted files); both go in the encrypted event.
		data, file = encryptAttachment(data)
		ctype, name = "application/octet-stream", ""
	}
	resp, err := f.acct.Client().UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: ctype, FileName: name})
	if err != nil {
		return nil, account.ActionError("failed to upload the file", err)
	}
	out.MXC, out.File = resp.ContentURI.CUString(), file
	if file != nil {
		file.URL = out.MXC
	} else if rec.MXC == "" { // keep the plaintext mxc for the next send
		rec.MXC, rec.Bot = out.MXC, f.acct.UserID()
		if err := m.saveRecord(ctx, fileID, rec); err != nil {
			f.acct.Log().Warn("failed to remember the uploaded file", "file_id", fileID, "error", err)
		}
	}
	return &out, nil
}

// Download streams content from the homeserver (authenticated media, /_matrix/client/v1).
// It has no overall timeout: ctx bounds it, so big files can stream.
func (f *Files) Download(ctx context.Context, mxc id.ContentURIString) (io.ReadCloser, error) {
	u, err := mxc.Parse()
	if err != nil {
		return nil, model.Errorf(model.ErrNotFound, "malformed mxc URI %q", mxc)
	}
	_, resp, err := f.acct.Client().MakeFullRequestWithResp(ctx, mautrix.FullRequest{
		Method:           http.MethodGet,
		URL:              f.acct.Client().BuildURL(mautrix.ClientURLPath{"v1", "media", "download", u.Homeserver, u.FileID}),
		DontReadResponse: true,
		MaxAttempts:      1,
		Client:           &http.Client{Transport: f.acct.Client().Client.Transport},
	})
	if err != nil {
		var httpErr mautrix.HTTPError
		if errors.As(err, &httpErr) && httpErr.RespError != nil && httpErr.RespError.ErrCode == mautrix.MNotFound.ErrCode {
			// The homeserver has no such media (or will not say): not a gateway failure.
			return nil, &model.ActionError{Kind: model.ErrNotFound, Message: "the homeserver has no media " + string(mxc), MatrixErr: httpErr.RespError.ErrCode}
		}
		return nil, account.ActionError("failed to download "+string(mxc), err)
	}
	return resp.Body, nil
}

package matrix

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // image.DecodeConfig learns GIF
	_ "image/jpeg" // and JPEG
	_ "image/png"  // and PNG
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Media is the gateway's file store (model.Files), shared by all bots. A file is either media a
// bot received from Matrix (its mxc URI, and the key when the attachment is encrypted) or bytes a
// OneBot client handed over, kept under Dir. Records live in the storage gateway_file table, so
// file ids and signed URLs stay valid across restarts, until GATEWAY_FILE_RETENTION after the
// record was last written: then Prune deletes the record and the bytes kept under Dir.
//
// Every upload to and download from the homeserver goes through this file: uploadFile and
// openRecord. Encrypted rooms plug in at encryptAttachment / decryptAttachment (mautrix's
// attachment package); whether a room gets encrypted attachments is decided by
// Session.mustEncrypt (encryption.go), with the event that carries them.
type Media struct {
	db        *storage.DB
	dir       string
	maxSize   int64
	publicURL string
	ttl       time.Duration
	key       []byte
	log       *slog.Logger
	now       func() time.Time

	mu       sync.RWMutex
	sessions []*Session
}

// MediaOptions configure NewMedia.
type MediaOptions struct {
	DB        *storage.DB
	Dir       string        // where uploaded and cached files are kept (GATEWAY_FILES_DIR)
	MaxSize   int64         // bytes (GATEWAY_MEDIA_MAX_SIZE)
	PublicURL string        // base of the gateway's media URLs, e.g. http://127.0.0.1:5700 (GATEWAY_PUBLIC_URL)
	URLTTL    time.Duration // how long a media URL works (GATEWAY_MEDIA_URL_TTL)
	Logger    *slog.Logger
	Now       func() time.Time // the clock URLs are signed with; nil = time.Now
}

// mediaKeyName is the kv key of the HMAC key that signs media URLs; generated once.
const mediaKeyName = "media:url_key"

// NewMedia opens the file store, creating Dir and the URL signing key when needed.
func NewMedia(ctx context.Context, opts MediaOptions) (*Media, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 50 << 20
	}
	if opts.URLTTL <= 0 {
		opts.URLTTL = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the files directory %s: %w", opts.Dir, err)
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	keyHex, err := opts.DB.GetOrSetValue(ctx, mediaKeyName, hex.EncodeToString(fresh))
	if err != nil {
		return nil, fmt.Errorf("failed to load the media URL key: %w", err)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("the media URL key in the database is malformed")
	}
	return &Media{
		db: opts.DB, dir: opts.Dir, maxSize: opts.MaxSize, publicURL: strings.TrimRight(opts.PublicURL, "/"),
		ttl: opts.URLTTL, key: key, log: opts.Logger, now: opts.Now,
	}, nil
}

// fileRecord is what the store keeps about one file.
type fileRecord struct {
	Name     string `json:"name,omitempty"`
	MimeType string `json:"mimetype,omitempty"`
	Size     int64  `json:"size,omitempty"`
	Width    int    `json:"w,omitempty"`
	Height   int    `json:"h,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	// Local: the bytes are in Dir/<id> (uploaded by a client, or downloaded once).
	Local bool `json:"local,omitempty"`
	// MXC holds the plaintext on the homeserver, or the ciphertext when File is set.
	MXC  id.ContentURIString      `json:"mxc,omitempty"`
	File *event.EncryptedFileInfo `json:"file,omitempty"`
	// Bot is the bot that saw the file; it downloads it.
	Bot id.UserID `json:"bot,omitempty"`
}

func (r *fileRecord) info(fileID string) model.FileInfo {
	return model.FileInfo{ID: fileID, Name: r.Name, MimeType: r.MimeType, Size: r.Size, Width: r.Width, Height: r.Height, SHA256: r.SHA256}
}

// validFileID keeps ids to what the store hands out, so an id is always a safe file name.
func validFileID(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (m *Media) record(ctx context.Context, fileID string) (*fileRecord, error) {
	if !validFileID(fileID) {
		return nil, model.Errorf(model.ErrNotFound, "unknown file id %q", fileID)
	}
	raw, err := m.db.GetFileRecord(ctx, fileID)
	if errors.Is(err, storage.ErrExpired) {
		return nil, model.Errorf(model.ErrNotFound, "file %q has expired: files are kept for %v (GATEWAY_FILE_RETENTION); "+
			"get the message again for a new link", fileID, m.db.Retention().FileAge)
	} else if errors.Is(err, storage.ErrNotFound) {
		return nil, model.Errorf(model.ErrNotFound, "unknown file id %q (or it expired after GATEWAY_FILE_RETENTION)", fileID)
	} else if err != nil {
		return nil, err
	}
	var r fileRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("failed to read file record %s: %w", fileID, err)
	}
	return &r, nil
}

func (m *Media) saveRecord(ctx context.Context, fileID string, r *fileRecord) error {
	raw, _ := json.Marshal(r)
	return m.db.PutFileRecord(ctx, fileID, string(raw))
}

func (m *Media) path(fileID string) string { return filepath.Join(m.dir, fileID) }

// register lets the store download through a bot's session.
func (m *Media) register(s *Session) {
	m.mu.Lock()
	m.sessions = append(m.sessions, s)
	m.mu.Unlock()
}

// session picks the bot that saw a file, else another bot of the gateway (its homeserver fetches
// the file over federation).
func (m *Media) session(u id.UserID) *Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, s := range m.sessions {
		if s.UserID() == u {
			return s
		}
	}
	if len(m.sessions) > 0 {
		return m.sessions[0]
	}
	return nil
}

// MaxSize implements model.Files.
func (m *Media) MaxSize() int64 { return m.maxSize }

// Put implements model.Files: the bytes are kept under Dir, with their size, SHA-256, MIME type
// (sniffed when not given) and image dimensions.
func (m *Media) Put(ctx context.Context, name, mimeType string, r io.Reader) (model.FileInfo, error) {
	fileID := "f" + randomHex(16)
	tmp, err := os.CreateTemp(m.dir, ".upload-*")
	if err != nil {
		return model.FileInfo{}, fmt.Errorf("failed to store file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	var head bytes.Buffer
	n, err := io.Copy(io.MultiWriter(tmp, h, &limitedBuffer{buf: &head, max: 512}), io.LimitReader(r, m.maxSize+1))
	if err != nil {
		return model.FileInfo{}, &model.ActionError{Kind: model.ErrBadParam, Message: "failed to read the file", Err: err}
	}
	if n > m.maxSize {
		return model.FileInfo{}, &model.ActionError{Kind: model.ErrBadParam, Message: fmt.Sprintf("the file is larger than %d bytes", m.maxSize), Err: model.ErrTooLarge}
	}
	rec := &fileRecord{Name: name, MimeType: mimeType, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Local: true}
	if rec.MimeType == "" || rec.MimeType == "application/octet-stream" {
		rec.MimeType = sniffType(head.Bytes(), name)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err == nil {
		rec.Width, rec.Height = imageSize(tmp, rec.MimeType)
	}
	if err := tmp.Close(); err != nil {
		return model.FileInfo{}, fmt.Errorf("failed to store file: %w", err)
	}
	if err := os.Rename(tmp.Name(), m.path(fileID)); err != nil {
		return model.FileInfo{}, fmt.Errorf("failed to store file: %w", err)
	}
	if err := m.saveRecord(ctx, fileID, rec); err != nil {
		_ = os.Remove(m.path(fileID))
		return model.FileInfo{}, err
	}
	return rec.info(fileID), nil
}

// Stat implements model.Files.
func (m *Media) Stat(ctx context.Context, fileID string) (model.FileInfo, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return model.FileInfo{}, err
	}
	return rec.info(fileID), nil
}

// Open implements model.Files.
func (m *Media) Open(ctx context.Context, fileID string) (model.FileInfo, io.ReadCloser, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return model.FileInfo{}, nil, err
	}
	rc, err := m.openRecord(ctx, fileID, rec)
	if err != nil {
		return model.FileInfo{}, nil, err
	}
	return rec.info(fileID), rc, nil
}

// openRecord streams a file's plaintext: from Dir, or downloaded (and decrypted) from the homeserver.
func (m *Media) openRecord(ctx context.Context, fileID string, rec *fileRecord) (io.ReadCloser, error) {
	if rec.Local {
		f, err := os.Open(m.path(fileID))
		if err == nil {
			return f, nil
		}
		if rec.MXC == "" {
			return nil, fmt.Errorf("failed to open file %s: %w", fileID, err)
		}
	}
	if rec.MXC == "" {
		return nil, model.Errorf(model.ErrNotFound, "file %s has no content", fileID)
	}
	s := m.session(rec.Bot)
	if s == nil {
		return nil, &model.ActionError{Kind: model.ErrBotOffline, Message: "no bot can download the file now"}
	}
	body, err := s.downloadMXC(ctx, rec.MXC)
	if err != nil {
		return nil, err
	}
	if rec.File != nil {
		return decryptAttachment(body, rec.File)
	}
	return body, nil
}

// LocalPath implements model.Files: media from Matrix is downloaded into Dir once.
func (m *Media) LocalPath(ctx context.Context, fileID string) (string, model.FileInfo, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return "", model.FileInfo{}, err
	}
	p := m.path(fileID)
	if rec.Local {
		if _, err := os.Stat(p); err == nil {
			return p, rec.info(fileID), nil
		}
	}
	rc, err := m.openRecord(ctx, fileID, &fileRecord{MXC: rec.MXC, File: rec.File, Bot: rec.Bot})
	if err != nil {
		return "", model.FileInfo{}, err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(m.dir, ".download-*")
	if err != nil {
		return "", model.FileInfo{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, m.maxSize+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", model.FileInfo{}, &model.ActionError{Kind: model.ErrNetwork, Message: "failed to download the file", Err: err}
	}
	if n > m.maxSize {
		return "", model.FileInfo{}, &model.ActionError{Kind: model.ErrBadParam, Message: fmt.Sprintf("the file is larger than %d bytes", m.maxSize), Err: model.ErrTooLarge}
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", model.FileInfo{}, err
	}
	rec.Local, rec.Size, rec.SHA256 = true, n, hex.EncodeToString(h.Sum(nil))
	if err := m.saveRecord(ctx, fileID, rec); err != nil {
		return "", model.FileInfo{}, err
	}
	return p, rec.info(fileID), nil
}

// URL implements model.Files: <public>/media/<id>?exp=<unix>&sig=<HMAC-SHA256(id "." exp)>.
func (m *Media) URL(fileID string) string {
	exp := strconv.FormatInt(m.now().Add(m.ttl).Unix(), 10)
	return m.publicURL + "/media/" + url.PathEscape(fileID) + "?exp=" + exp + "&sig=" + m.sign(fileID, exp)
}

func (m *Media) sign(fileID, exp string) string {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(fileID + "." + exp))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckURL implements model.Files. The signature is checked first, so that a forged expiry is
// never reported as merely expired.
func (m *Media) CheckURL(fileID, expires, signature string, now time.Time) error {
	if !hmac.Equal([]byte(signature), []byte(m.sign(fileID, expires))) {
		return model.ErrURLSignature
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return model.ErrURLSignature
	}
	if now.Unix() > exp {
		return model.ErrURLExpired
	}
	return nil
}

// registerIncoming records the file of a received media message and returns its info. The id is
// derived from the mxc URI and, for an encrypted attachment, from its key, IV and hash, so the
// same file always gets the same id, and an event that names the mxc of an attachment seen
// elsewhere (the homeserver knows every mxc) without its key never gets that attachment's record
// with the key that decrypts it.
func (s *Session) registerIncoming(ctx context.Context, c *event.MessageEventContent) (model.FileInfo, bool) {
	m := s.opts.Media
	rec := &fileRecord{Bot: s.UserID(), File: c.File, MXC: c.URL, Name: c.GetFileName()}
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
	stored, err := m.db.GetOrPutFileRecord(ctx, fileID, string(raw))
	if err != nil {
		s.log.Warn("failed to record received file", "mxc", rec.MXC, "error", err)
		return model.FileInfo{}, false
	}
	var got fileRecord
	if err := json.Unmarshal([]byte(stored), &got); err != nil || !sameAttachment(&got, rec) {
		// A record of an older version (its id came from the mxc alone) for another key.
		s.log.Warn("a received file's id belongs to another file; the file is not offered", "file_id", fileID)
		return model.FileInfo{}, false
	}
	return got.info(fileID), true
}

// incomingFileID is the file id of a received file: of its mxc, and of its key, IV and hash when
// it is an encrypted attachment.
func incomingFileID(rec *fileRecord) string {
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
func sameAttachment(a, b *fileRecord) bool {
	if a.MXC != b.MXC || (a.File == nil) != (b.File == nil) {
		return false
	}
	return a.File == nil || a.File.Key.Key == b.File.Key.Key && a.File.InitVector == b.File.InitVector &&
		a.File.Hashes.SHA256 == b.File.Hashes.SHA256
}

// uploadFile makes a stored file available in room: the mxc it already has when that fits (an
// unencrypted file into an unencrypted room, or the same encrypted attachment into an encrypted
// room), else the bytes are uploaded, encrypted when the room needs it.
// encrypt says whether the room is encrypted (Session.mustEncrypt decided it before the
// message was built).
func (s *Session) uploadFile(ctx context.Context, room id.RoomID, fileID string, encrypt bool) (*fileRecord, error) {
	m := s.opts.Media
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
	ctype := rec.MimeType
	var file *event.EncryptedFileInfo
	if encrypt {
		data, file = encryptAttachment(data)
		ctype = "application/octet-stream"
	}
	resp, err := s.client.UploadMedia(ctx, mautrix.ReqUploadMedia{ContentBytes: data, ContentType: ctype, FileName: rec.Name})
	if err != nil {
		return nil, actionError("failed to upload the file", err)
	}
	out.MXC, out.File = resp.ContentURI.CUString(), file
	if file != nil {
		file.URL = out.MXC
	} else if rec.MXC == "" { // keep the plaintext mxc for the next send
		rec.MXC, rec.Bot = out.MXC, s.UserID()
		if err := m.saveRecord(ctx, fileID, rec); err != nil {
			s.log.Warn("failed to remember the uploaded file", "file_id", fileID, "error", err)
		}
	}
	return &out, nil
}

// encryptAttachment and decryptAttachment are the seam for encrypted rooms (mautrix attachment).
var (
	encryptAttachment = func(data []byte) ([]byte, *event.EncryptedFileInfo) {
		ef := attachment.NewEncryptedFile()
		ef.EncryptInPlace(data)
		return data, &event.EncryptedFileInfo{EncryptedFile: *ef}
	}
	decryptAttachment = func(body io.ReadCloser, f *event.EncryptedFileInfo) (io.ReadCloser, error) {
		ef := f.EncryptedFile
		if err := ef.PrepareForDecryption(); err != nil {
			body.Close()
			return nil, &model.ActionError{Kind: model.ErrPlatform, Message: "the attachment's key is malformed", Err: err}
		}
		return readCloser{ef.DecryptStream(body), body}, nil // Close checks the hash
	}
)

type readCloser struct {
	io.ReadCloser
	body io.Closer
}

func (r readCloser) Close() error {
	err := r.ReadCloser.Close()
	if cerr := r.body.Close(); err == nil {
		err = cerr
	}
	return err
}

// downloadMXC streams content from the homeserver (authenticated media, /_matrix/client/v1).
// It has no overall timeout: ctx bounds it, so big files can stream.
func (s *Session) downloadMXC(ctx context.Context, mxc id.ContentURIString) (io.ReadCloser, error) {
	u, err := mxc.Parse()
	if err != nil {
		return nil, model.Errorf(model.ErrNotFound, "malformed mxc URI %q", mxc)
	}
	_, resp, err := s.client.MakeFullRequestWithResp(ctx, mautrix.FullRequest{
		Method:           http.MethodGet,
		URL:              s.client.BuildURL(mautrix.ClientURLPath{"v1", "media", "download", u.Homeserver, u.FileID}),
		DontReadResponse: true,
		MaxAttempts:      1,
		Client:           &http.Client{Transport: s.client.Client.Transport},
	})
	if err != nil {
		var httpErr mautrix.HTTPError
		if errors.As(err, &httpErr) && httpErr.RespError != nil && httpErr.RespError.ErrCode == mautrix.MNotFound.ErrCode {
			// The homeserver has no such media (or will not say): not a gateway failure.
			return nil, &model.ActionError{Kind: model.ErrNotFound, Message: "the homeserver has no media " + string(mxc), MatrixErr: httpErr.RespError.ErrCode}
		}
		return nil, actionError("failed to download "+string(mxc), err)
	}
	return resp.Body, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sniffType guesses a MIME type from the first bytes, then from the name's extension.
func sniffType(head []byte, name string) string {
	t := http.DetectContentType(head)
	if t == "application/octet-stream" || strings.HasPrefix(t, "text/plain") {
		if byExt := mime.TypeByExtension(filepath.Ext(name)); byExt != "" {
			return byExt
		}
	}
	return t
}

// imageSize reads the dimensions of PNG, JPEG and GIF images; 0, 0 for anything else.
func imageSize(r io.Reader, mimeType string) (int, int) {
	if !strings.HasPrefix(mimeType, "image/") {
		return 0, 0
	}
	cfg, _, err := image.DecodeConfig(r)
	if err != nil {
		return 0, 0
	}
	return cfg.Width, cfg.Height
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

var _ model.Files = (*Media)(nil)

// FilePrune counts what one Prune removed.
type FilePrune struct {
	Records int // file records past GATEWAY_FILE_RETENTION
	Files   int // files deleted from Dir: of those records, and leftovers without a record
}

// Prune deletes the file records past the file retention (storage.Retention.FileAge) at now,
// and the bytes Dir keeps for them. Files in Dir without a record (leftovers of a crash, or
// of a record that expired while a download was under way) go too once their modification
// time is past the retention. Without a file retention it does nothing.
func (m *Media) Prune(ctx context.Context, now time.Time) (FilePrune, error) {
	var p FilePrune
	age := m.db.Retention().FileAge
	if age <= 0 {
		return p, nil
	}
	ids, err := m.db.PruneFileRecords(ctx, now)
	p.Records = len(ids)
	for _, fileID := range ids {
		if !validFileID(fileID) {
			continue
		}
		if rerr := os.Remove(m.path(fileID)); rerr == nil {
			p.Files++
		} else if !errors.Is(rerr, os.ErrNotExist) {
			m.log.Warn("failed to delete an expired file; check the permissions of GATEWAY_FILES_DIR", "file_id", fileID, "error", rerr)
		}
	}
	if err != nil {
		return p, err
	}
	entries, err := os.ReadDir(m.dir)
	if err != nil {
		return p, fmt.Errorf("failed to list the files directory %s: %w", m.dir, err)
	}
	cutoff := now.Add(-age)
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if validFileID(e.Name()) {
			if _, err := m.db.GetFileRecord(ctx, e.Name()); !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
				continue // still recorded (or not known): an expired record goes with its file next pass
			}
		} else if !strings.HasPrefix(e.Name(), ".upload-") && !strings.HasPrefix(e.Name(), ".download-") {
			continue // not a file the store wrote
		}
		if err := os.Remove(filepath.Join(m.dir, e.Name())); err == nil {
			p.Files++
		} else if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("failed to delete a leftover file; check the permissions of GATEWAY_FILES_DIR", "file", e.Name(), "error", err)
		}
	}
	return p, nil
}

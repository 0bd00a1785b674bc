package media

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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/crypto/attachment"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// Package media is the gateway's file store (Store) and each bot's way to it (Files): media
// received from Matrix, files handed over by OneBot clients, uploads and downloads.
//
// Store is the gateway's file store (model.Files), shared by all bots. A file is either media a
// bot received from Matrix (its mxc URI, and the key when the attachment is encrypted) or bytes a
// OneBot client handed over, kept under Dir. Records live in the storage gateway_file table, so
// file ids and signed URLs stay valid across restarts, until GATEWAY_FILE_RETENTION after the
// record was last written: then Prune deletes the record and the bytes kept under Dir.
//
// Every upload to and download from the homeserver goes through this package: Files.Upload and
// openRecord. Encrypted rooms plug in at encryptAttachment / decryptAttachment (mautrix's
// attachment package); whether a room gets encrypted attachments is decided by
// crypt.Policy.MustEncrypt, with the event that carries them.
type Store struct {
	db        *storage.DB
	dir       string
	maxSize   int64
	publicURL string
	ttl       time.Duration
	key       []byte
	log       *slog.Logger
	now       func() time.Time

	mu   sync.RWMutex
	bots []Downloader
}

// Downloader is a bot that downloads media from its homeserver (Files).
type Downloader interface {
	UserID() id.UserID
	Download(ctx context.Context, mxc id.ContentURIString) (io.ReadCloser, error)
}

// Options configure New.
type Options struct {
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

// New opens the file store, creating Dir and the URL signing key when needed.
func New(ctx context.Context, opts Options) (*Store, error) {
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
	keyHex, err := opts.DB.KV().GetOrSetValue(ctx, mediaKeyName, hex.EncodeToString(fresh))
	if err != nil {
		return nil, fmt.Errorf("failed to load the media URL key: %w", err)
	}
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("the media URL key in the database is malformed")
	}
	return &Store{
		db: opts.DB, dir: opts.Dir, maxSize: opts.MaxSize, publicURL: strings.TrimRight(opts.PublicURL, "/"),
		ttl: opts.URLTTL, key: key, log: opts.Logger, now: opts.Now,
	}, nil
}

// Record is what the store keeps about one file.
type Record struct {
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

// Info describes the file as model.Files does.
func (r *Record) Info(fileID string) model.FileInfo {
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

func (m *Store) record(ctx context.Context, fileID string) (*Record, error) {
	if !validFileID(fileID) {
		return nil, model.Errorf(model.ErrNotFound, "unknown file id %q", fileID)
	}
	raw, err := m.db.Files().GetFileRecord(ctx, fileID)
	if errors.Is(err, storage.ErrExpired) {
		r := m.db.Retention()
		kept := fmt.Sprintf("%v (GATEWAY_FILE_RETENTION)", r.FileAge)
		if r.EncryptedBodyAge > 0 && r.EncryptedBodyAge < r.FileAge {
			kept += fmt.Sprintf(", those of encrypted rooms %v (GATEWAY_ENCRYPTED_BODY_RETENTION)", r.EncryptedBodyAge)
		}
		return nil, model.Errorf(model.ErrNotFound, "file %q has expired: files are kept for %s; get the message again for a new link", fileID, kept)
	} else if errors.Is(err, storage.ErrNotFound) {
		return nil, model.Errorf(model.ErrNotFound, "unknown file id %q (or it expired after GATEWAY_FILE_RETENTION)", fileID)
	} else if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("failed to read file record %s: %w", fileID, err)
	}
	return &r, nil
}

func (m *Store) saveRecord(ctx context.Context, fileID string, r *Record) error {
	raw, _ := json.Marshal(r)
	return m.db.Files().PutFileRecord(ctx, fileID, string(raw), r.File != nil)
}

func (m *Store) path(fileID string) string { return filepath.Join(m.dir, fileID) }

// Register lets the store download through a bot.
func (m *Store) Register(d Downloader) {
	m.mu.Lock()
	m.bots = append(m.bots, d)
	m.mu.Unlock()
}

// Unregister stops downloading through d (a bot removed while the gateway runs).
func (m *Store) Unregister(d Downloader) {
	m.mu.Lock()
	m.bots = slices.DeleteFunc(m.bots, func(x Downloader) bool { return x == d })
	m.mu.Unlock()
}

// downloader picks the bot that saw a file, else another bot of the gateway (its homeserver
// fetches the file over federation).
func (m *Store) downloader(u id.UserID) Downloader {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, d := range m.bots {
		if d.UserID() == u {
			return d
		}
	}
	if len(m.bots) > 0 {
		return m.bots[0]
	}
	return nil
}

// MaxSize implements model.Files.
func (m *Store) MaxSize() int64 { return m.maxSize }

// Put implements model.Files: the bytes are kept under Dir, with their size, SHA-256, MIME type
// (sniffed when not given) and image dimensions.
func (m *Store) Put(ctx context.Context, name, mimeType string, r io.Reader) (model.FileInfo, error) {
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
	rec := &Record{Name: name, MimeType: mimeType, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Local: true}
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
	return rec.Info(fileID), nil
}

// Stat implements model.Files.
func (m *Store) Stat(ctx context.Context, fileID string) (model.FileInfo, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return model.FileInfo{}, err
	}
	return rec.Info(fileID), nil
}

// Open implements model.Files.
func (m *Store) Open(ctx context.Context, fileID string) (model.FileInfo, io.ReadCloser, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return model.FileInfo{}, nil, err
	}
	rc, err := m.openRecord(ctx, fileID, rec)
	if err != nil {
		return model.FileInfo{}, nil, err
	}
	return rec.Info(fileID), rc, nil
}

// openRecord streams a file's plaintext: from Dir, or downloaded (and decrypted) from the homeserver.
func (m *Store) openRecord(ctx context.Context, fileID string, rec *Record) (io.ReadCloser, error) {
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
	d := m.downloader(rec.Bot)
	if d == nil {
		return nil, &model.ActionError{Kind: model.ErrBotOffline, Message: "no bot can download the file now"}
	}
	body, err := d.Download(ctx, rec.MXC)
	if err != nil {
		return nil, err
	}
	if rec.File != nil {
		return decryptAttachment(body, rec.File)
	}
	return body, nil
}

// LocalPath implements model.Files: media from Matrix is downloaded into Dir once.
func (m *Store) LocalPath(ctx context.Context, fileID string) (string, model.FileInfo, error) {
	rec, err := m.record(ctx, fileID)
	if err != nil {
		return "", model.FileInfo{}, err
	}
	p := m.path(fileID)
	if rec.Local {
		if _, err := os.Stat(p); err == nil {
			return p, rec.Info(fileID), nil
		}
	}
	rc, err := m.openRecord(ctx, fileID, &Record{MXC: rec.MXC, File: rec.File, Bot: rec.Bot})
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
	return p, rec.Info(fileID), nil
}

// URL implements model.Files: <public>/media/<id>?exp=<unix>&sig=<HMAC-SHA256(id "." exp)>.
func (m *Store) URL(fileID string) string {
	exp := strconv.FormatInt(m.now().Add(m.ttl).Unix(), 10)
	return m.publicURL + "/media/" + url.PathEscape(fileID) + "?exp=" + exp + "&sig=" + m.sign(fileID, exp)
}

func (m *Store) sign(fileID, exp string) string {
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(fileID + "." + exp))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckURL implements model.Files. The signature is checked first, so that a forged expiry is
// never reported as merely expired.
func (m *Store) CheckURL(fileID, expires, signature string, now time.Time) error {
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
		return &readCloser{ReadCloser: ef.DecryptStream(body), body: body}, nil
	}
)

// readCloser is an attachment's decrypting stream. mautrix checks the ciphertext's SHA-256 (from
// the event, which the homeserver cannot alter) only when the stream is closed, after every byte
// was handed out: AES-CTR is malleable, so a homeserver that flips bits of the ciphertext flips
// the same bits of the plaintext. The end of the stream is reported only once the hash matched;
// otherwise the last Read fails with attachment.ErrHashMismatch, so that no reader takes the
// altered bytes for the file (and Close says so again).
type readCloser struct {
	io.ReadCloser
	body     io.Closer
	verified error // the hash check's result at the end of the stream
	ended    bool
}

func (r *readCloser) Read(p []byte) (int, error) {
	if r.ended {
		if r.verified != nil {
			return 0, r.verified
		}
		return 0, io.EOF
	}
	n, err := r.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		r.ended = true
		if cerr := r.ReadCloser.Close(); cerr != nil { // the hash check
			r.verified = fmt.Errorf("the attachment the homeserver served is not the one the event names: %w", cerr)
			return n, r.verified
		}
	}
	return n, err
}

func (r *readCloser) Close() error {
	if r.ended && r.verified != nil {
		_ = r.body.Close()
		return r.verified
	}
	err := r.ReadCloser.Close()
	if cerr := r.body.Close(); err == nil {
		err = cerr
	}
	return err
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

var _ model.Files = (*Store)(nil)

// FilePrune counts what one Prune removed.
type FilePrune struct {
	Records int // file records past GATEWAY_FILE_RETENTION
	Files   int // files deleted from Dir: of those records, and leftovers without a record
}

// Prune deletes the file records past the file retention (storage.Retention.FileAge) at now,
// and the bytes Dir keeps for them. Files in Dir without a record (leftovers of a crash, or
// of a record that expired while a download was under way) go too once their modification
// time is past the retention. Without a file retention it does nothing.
func (m *Store) Prune(ctx context.Context, now time.Time) (FilePrune, error) {
	var p FilePrune
	age := m.db.Retention().FileAge
	if age <= 0 {
		return p, nil
	}
	ids, err := m.db.Files().PruneFileRecords(ctx, now)
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
			if _, err := m.db.Files().GetFileRecord(ctx, e.Name()); !errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
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

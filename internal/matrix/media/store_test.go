package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

func openTestMedia(t testing.TB, dbPath string, maxSize int64) *Store {
	t.Helper()
	db, err := storage.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	m, err := New(context.Background(), Options{
		DB: db, Dir: filepath.Join(filepath.Dir(dbPath), "files"), MaxSize: maxSize, PublicURL: "http://gw.example/", URLTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pngBytes(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A stored file keeps its bytes, size, SHA-256, sniffed MIME type and image dimensions.
func TestMediaPutStatOpen(t *testing.T) {
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 1<<20)
	ctx := context.Background()
	data := pngBytes(t, 7, 5)
	info, err := m.Put(ctx, "dot.png", "", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.MimeType != "image/png" || info.Width != 7 || info.Height != 5 || info.Size != int64(len(data)) || len(info.SHA256) != 64 {
		t.Fatalf("info = %+v", info)
	}
	st, err := m.Stat(ctx, info.ID)
	if err != nil || st != info {
		t.Fatalf("Stat = %+v, %v; want %+v", st, err, info)
	}
	_, rc, err := m.Open(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("Open returned other bytes")
	}
	if _, err := m.Stat(ctx, "nope"); model.KindOf(err) != model.ErrNotFound {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := m.Stat(ctx, "../etc/passwd"); model.KindOf(err) != model.ErrNotFound {
		t.Fatalf("path-like id: %v", err)
	}
}

func TestMediaPutTooLarge(t *testing.T) {
	m := openTestMedia(t, filepath.Join(t.TempDir(), "gw.db"), 10)
	_, err := m.Put(context.Background(), "big", "", strings.NewReader(strings.Repeat("x", 11)))
	if !errors.Is(err, model.ErrTooLarge) {
		t.Fatalf("11 bytes with a 10-byte limit: %v", err)
	}
	if _, err := m.Put(context.Background(), "ok", "", strings.NewReader(strings.Repeat("x", 10))); err != nil {
		t.Fatalf("10 bytes: %v", err)
	}
}

// Media URLs are signed with a key kept in the database: they survive a restart, fail when
// forged, and expire.
func TestMediaURLSignature(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.db")
	m := openTestMedia(t, path, 1<<20)
	raw := m.URL("mabc")
	u, err := url.Parse(raw)
	if err != nil || u.Host != "gw.example" || u.Path != "/media/mabc" {
		t.Fatalf("URL = %s", raw)
	}
	exp, sig := u.Query().Get("exp"), u.Query().Get("sig")
	now := time.Now()
	if err := m.CheckURL("mabc", exp, sig, now); err != nil {
		t.Fatalf("fresh URL: %v", err)
	}
	if err := m.CheckURL("mabd", exp, sig, now); !errors.Is(err, model.ErrURLSignature) {
		t.Fatalf("other file id: %v", err)
	}
	if err := m.CheckURL("mabc", exp+"0", sig, now); !errors.Is(err, model.ErrURLSignature) {
		t.Fatalf("changed expiry: %v", err)
	}
	if err := m.CheckURL("mabc", exp, sig, now.Add(2*time.Hour)); !errors.Is(err, model.ErrURLExpired) {
		t.Fatalf("after the TTL: %v", err)
	}
	// Same database, new process: the key is the same.
	other, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "other.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fresh, err := New(context.Background(), Options{DB: other, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.CheckURL("mabc", exp, sig, now); !errors.Is(err, model.ErrURLSignature) {
		t.Fatalf("a gateway with another database accepted the URL: %v", err)
	}
	reopened, err := New(context.Background(), Options{DB: m.db, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := reopened.CheckURL("mabc", exp, sig, now); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

func FuzzMediaCheckURL(f *testing.F) {
	m := openTestMedia(f, filepath.Join(f.TempDir(), "gw.db"), 1<<20)
	u, _ := url.Parse(m.URL("mabc"))
	f.Add("mabc", u.Query().Get("exp"), u.Query().Get("sig"))
	f.Add("", "", "")
	f.Add("mabc", "-1", "x")
	f.Add("mabc", "99999999999999999999", "")
	f.Fuzz(func(t *testing.T, fileID, exp, sig string) {
		err := m.CheckURL(fileID, exp, sig, time.Now())
		if err == nil && (sig != m.sign(fileID, exp)) {
			t.Fatalf("accepted a wrong signature for %q %q %q", fileID, exp, sig)
		}
	})
}

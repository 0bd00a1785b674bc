package intake

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/matrix/media"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/storage"
)

// newTestFiles is the real file store on a fresh database.
func newTestFiles(t *testing.T, maxSize int64, now func() time.Time) *media.Store {
	t.Helper()
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	files, err := media.New(context.Background(), media.Options{
		DB: db, Dir: filepath.Join(t.TempDir(), "files"), MaxSize: maxSize, PublicURL: "http://gw.test", URLTTL: time.Hour, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func fileBytes(t *testing.T, files model.Files, fileID string) []byte {
	t.Helper()
	_, rc, err := files.Open(context.Background(), fileID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// URLs on loopback, private and link-local addresses are refused, whatever name leads there.
func TestFetchRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("secret")) }))
	defer srv.Close()
	m := New(Options{Files: newTestFiles(t, 1<<20, nil), FetchTimeout: 5 * time.Second})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{
		srv.URL + "/x", // 127.0.0.1
		strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), // a name that resolves to loopback
		"http://[::1]:" + strconv.Itoa(port) + "/",
		"http://169.254.169.254/latest/meta-data/", // cloud metadata (link-local)
		"http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/", "http://100.64.0.1/",
		"http://0.0.0.0:" + strconv.Itoa(port) + "/",
		"http://[::ffff:127.0.0.1]:" + strconv.Itoa(port) + "/", // IPv4-mapped loopback
	} {
		_, err := m.Resolve(context.Background(), u, "")
		if model.KindOf(err) != model.ErrBadParam || !strings.Contains(err.Error(), "refusing to fetch") {
			t.Errorf("%s: got %v, want a refusal", u, err)
		}
	}
}

// An allowed network can be fetched from; a redirect from there to a refused address is refused.
func TestFetchAllowedNetworkAndRedirect(t *testing.T) {
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		switch r.URL.Path {
		case "/cat.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("not really a png"))
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-other-loopback":
			http.Redirect(w, r, "http://127.0.0.2:"+srvPort(r)+"/cat.png", http.StatusFound)
		case "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}
	}))
	defer srv.Close()
	files := newTestFiles(t, 1<<20, nil)
	m := New(Options{Files: files, AllowedNetworks: mustPrefixes("127.0.0.1/32"), FetchTimeout: 5 * time.Second})
	info, err := m.Resolve(context.Background(), srv.URL+"/cat.png", "")
	if err != nil {
		t.Fatalf("allowed network: %v", err)
	}
	if info.Name != "cat.png" || info.MimeType != "image/png" || string(fileBytes(t, files, info.ID)) != "not really a png" {
		t.Fatalf("stored %+v", info)
	}
	for _, path := range []string{"/to-metadata", "/to-other-loopback", "/to-file"} {
		before := hits
		_, err := m.Resolve(context.Background(), srv.URL+path, "")
		if err == nil || model.KindOf(err) == model.ErrInternal {
			t.Errorf("%s: got %v, want the redirect refused", path, err)
		}
		if path == "/to-other-loopback" && hits != before+1 {
			t.Errorf("%s: the redirect target was contacted", path)
		}
	}
}

func srvPort(r *http.Request) string {
	_, p, _ := net.SplitHostPort(r.Host)
	return p
}

// A fetched file larger than the limit is refused, by Content-Length or while streaming.
func TestFetchSizeLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), 100))
	}))
	defer srv.Close()
	m := New(Options{Files: newTestFiles(t, 50, nil), AllowedNetworks: mustPrefixes("127.0.0.0/8")})
	for _, p := range []string{"/sized", "/chunked"} {
		if _, err := m.Resolve(context.Background(), srv.URL+p, ""); !errors.Is(err, model.ErrTooLarge) {
			t.Errorf("%s: got %v, want too large", p, err)
		}
	}
}

// file:// reads only inside GATEWAY_MEDIA_LOCAL_DIR, symbolic links resolved.
func TestResolveLocalFiles(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "assets")
	_ = os.Mkdir(allowed, 0o755)
	_ = os.WriteFile(filepath.Join(allowed, "ok.txt"), []byte("inside"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "secret.txt"), []byte("outside"), 0o644)
	_ = os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(allowed, "link.txt"))
	files := newTestFiles(t, 1<<20, nil)
	m := New(Options{Files: files, LocalDir: allowed})
	info, err := m.Resolve(context.Background(), "file://"+filepath.Join(allowed, "ok.txt"), "")
	if err != nil || string(fileBytes(t, files, info.ID)) != "inside" || info.Name != "ok.txt" {
		t.Fatalf("inside: %+v %v", info, err)
	}
	for _, src := range []string{
		"file://" + filepath.Join(root, "secret.txt"),
		"file://" + allowed + "/../secret.txt",
		"file://" + filepath.Join(allowed, "link.txt"),
		"file://" + filepath.Join(allowed, "missing.txt"),
		"file://" + allowed,
	} {
		if _, err := m.Resolve(context.Background(), src, ""); model.KindOf(err) != model.ErrBadParam {
			t.Errorf("%s: got %v, want refused", src, err)
		}
	}
	none := New(Options{Files: files})
	if _, err := none.Resolve(context.Background(), "file://"+filepath.Join(allowed, "ok.txt"), ""); err == nil || !strings.Contains(err.Error(), "GATEWAY_MEDIA_LOCAL_DIR") {
		t.Fatalf("without a local dir: %v", err)
	}
}

// base64:// in both alphabets, data: URLs and known file ids are sources too.
func TestResolveInlineSources(t *testing.T) {
	files := newTestFiles(t, 1<<20, nil)
	m := New(Options{Files: files})
	data := []byte{0xfb, 0xff, 0xfe, 'h', 'i', 0x3e, 0x3f}
	for _, src := range []string{
		"base64://" + base64.StdEncoding.EncodeToString(data),
		"base64://" + base64.URLEncoding.EncodeToString(data),
		"base64://" + base64.RawURLEncoding.EncodeToString(data),
		"data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(data),
	} {
		info, err := m.Resolve(context.Background(), src, "blob.bin")
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := fileBytes(t, files, info.ID); !bytes.Equal(got, data) {
			t.Fatalf("%s: stored %x", src, got)
		}
		again, err := m.Resolve(context.Background(), info.ID, "")
		if err != nil || again.ID != info.ID {
			t.Fatalf("file id %s: %+v %v", info.ID, again, err)
		}
	}
	info, err := m.Resolve(context.Background(), "data:text/plain,hello%20world", "")
	if err != nil || info.MimeType != "text/plain" || string(fileBytes(t, files, info.ID)) != "hello world" {
		t.Fatalf("percent-encoded data URL: %+v %v", info, err)
	}
	for _, bad := range []string{"base64://!!!", "data:;base64,***", "data:nocomma", "nosuchfile", ""} {
		if _, err := m.Resolve(context.Background(), bad, ""); model.KindOf(err) != model.ErrBadParam {
			t.Errorf("%q: got %v, want a bad param", bad, err)
		}
	}
}

func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"aGk=", "aGk", "-_-_", "+/+/", "a\nGk=", "====", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data, err := DecodeBase64(s)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes in either alphabet.
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
			back, err := DecodeBase64(enc.EncodeToString(data))
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("%q → %x does not round-trip: %v", s, data, err)
			}
		}
	})
}

func FuzzParseDataURL(f *testing.F) {
	for _, s := range []string{"data:,x", "data:text/plain;charset=utf-8,%41", "data:image/png;base64,iVBORw0KGgo=", "data:;base64,", "data:a/b;c,%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mt, data, err := parseDataURL(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(strings.ToLower(s), "data:") || strings.ContainsAny(mt, " ;") {
			t.Fatalf("%q accepted as %q, %d bytes", s, mt, len(data))
		}
	})
}

// The store's own signed link (what Satori's upload.create answers) is taken as the file it
// names, not fetched from the gateway (whose loopback address the fetcher refuses); a link with
// a wrong signature is fetched like any URL (and here refused: gw.test does not resolve).
func TestResolveOwnSignedLink(t *testing.T) {
	files := newTestFiles(t, 1<<20, nil)
	m := New(Options{Files: files, FetchTimeout: 5 * time.Second})
	info, err := m.Put(context.Background(), "a.png", "image/png", bytes.NewReader([]byte("png")))
	if err != nil {
		t.Fatal(err)
	}
	link := files.URL(info.ID)
	got, err := m.Resolve(context.Background(), link, "")
	if err != nil || got.ID != info.ID {
		t.Fatalf("own link %s: %+v %v, want file %s", link, got, err, info.ID)
	}
	forged := link[:len(link)-2] + "xx"
	if got, err := m.Resolve(context.Background(), forged, ""); err == nil {
		t.Fatalf("forged link %s resolved to %+v", forged, got)
	}
}

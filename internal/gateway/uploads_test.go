package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/intake"
	"github.com/matrix-onebot/gateway/internal/satori"
	"github.com/matrix-onebot/gateway/test/fakes"
)

func fragment(t *testing.T, srv *httptest.Server, params map[string]any) map[string]any {
	t.Helper()
	return v12Action(t, srv, "upload_file_fragmented", params)
}

func prepareUpload(t *testing.T, srv *httptest.Server, size int) string {
	t.Helper()
	id, _ := okData(t, fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": size}))["file_id"].(string)
	if id == "" {
		t.Fatal("prepare gave no file_id")
	}
	return id
}

func transfer(t *testing.T, srv *httptest.Server, id string, off int, data []byte) map[string]any {
	t.Helper()
	return fragment(t, srv, map[string]any{"stage": "transfer", "file_id": id, "offset": off, "data": base64.StdEncoding.EncodeToString(data)})
}

// finish stores the file only when every byte of total_size was written: one byte sent of a
// declared megabyte is refused, and so is a gap between two parts; the upload stays, so that
// the missing bytes can still be sent.
func TestFragmentedUploadRefusesHoles(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	files := newTestFiles(t, 1<<20, nil)
	h.opts.Media = intake.New(intake.Options{Files: files})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	big := prepareUpload(t, srv, 1<<20)
	okData(t, transfer(t, srv, big, 1<<20-1, []byte{'x'})) // the last byte: the staging file has the full size
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": big}); r["retcode"] != float64(v12BadParam) {
		t.Fatalf("finish after 1 byte of 1 MiB: %v, want a bad param", r)
	}

	payload := bytes.Repeat([]byte("0123456789"), 10)
	sum := sha256.Sum256(payload)
	id := prepareUpload(t, srv, len(payload))
	okData(t, transfer(t, srv, id, 0, payload[:40]))
	okData(t, transfer(t, srv, id, 30, payload[30:50])) // overlaps are fine
	okData(t, transfer(t, srv, id, 60, payload[60:]))
	r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id})
	if r["retcode"] != float64(v12BadParam) || !strings.Contains(r["message"].(string), "50") {
		t.Fatalf("finish with bytes 50-59 missing: %v, want a bad param naming the gap", r)
	}
	for _, bad := range []struct {
		off  int
		data []byte
	}{{-1, []byte("x")}, {95, payload[:10]}, {100, []byte("x")}} {
		if r := transfer(t, srv, id, bad.off, bad.data); r["retcode"] != float64(v12BadParam) {
			t.Fatalf("transfer at %d of %d bytes: %v, want refused", bad.off, len(bad.data), r)
		}
	}
	okData(t, transfer(t, srv, id, 50, payload[50:60])) // the gap, filled
	wrong := sha256.Sum256([]byte("other"))
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id, "sha256": hex.EncodeToString(wrong[:])}); r["retcode"] != float64(v12BadParam) {
		t.Fatalf("finish with a wrong sha256: %v", r)
	}
	fin := okData(t, fragment(t, srv, map[string]any{"stage": "finish", "file_id": id, "sha256": strings.ToUpper(hex.EncodeToString(sum[:]))}))
	fileID, _ := fin["file_id"].(string)
	if got := fileBytes(t, files, fileID); !bytes.Equal(got, payload) {
		t.Fatalf("stored %q", got)
	}
	if r := fragment(t, srv, map[string]any{"stage": "finish", "file_id": id}); r["retcode"] != float64(v12NotFound) {
		t.Fatalf("finishing twice: %v", r)
	}
}

// prepare reserves total_size against the caller's quota (a connection, or an HTTP client's
// address) and the gateway's cap: a client cannot hold every slot, and another client still
// gets one.
func TestFragmentedUploadQuota(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	const maxSize = 1 << 20
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, maxSize, nil)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	var held []string
	for {
		r := fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": maxSize / 2})
		if r["retcode"] != float64(0) {
			if r["retcode"] != float64(v12RateLimited) {
				t.Fatalf("prepare over the quota: %v, want a rate-limit refusal", r)
			}
			break
		}
		held = append(held, r["data"].(map[string]any)["file_id"].(string))
		if len(held) > 16 {
			t.Fatalf("one client holds %d unfinished uploads of %d bytes", len(held), maxSize/2)
		}
	}
	if len(held) == 0 {
		t.Fatal("no upload at all")
	}

	// Another client (a WebSocket connection) still gets a slot.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), map[string][]string{"Authorization": {"Bearer " + testToken}})
	req, _ := json.Marshal(map[string]any{"action": "upload_file_fragmented", "echo": "p", "params": map[string]any{"stage": "prepare", "name": "g.bin", "total_size": 10}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	for {
		f := readJSON(t, ctx, c)
		if f["echo"] != "p" {
			continue
		}
		if f["retcode"] != float64(0) {
			t.Fatalf("another client's prepare: %v", f)
		}
		break
	}

	// Finishing (or abandoning) one frees its reservation.
	part := bytes.Repeat([]byte{'a'}, maxSize/2)
	okData(t, transfer(t, srv, held[0], 0, part))
	okData(t, fragment(t, srv, map[string]any{"stage": "finish", "file_id": held[0]}))
	prepareUpload(t, srv, maxSize/2)

	if r := fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": maxSize + 1}); r["retcode"] != float64(v12FileTooLarge) {
		t.Fatalf("prepare beyond GATEWAY_MEDIA_MAX_SIZE: %v", r)
	}
}

// Satori's upload.create counts against the same per-client upload quota as OneBot's
// fragmented uploads (intake): the same client (address and token) that holds its share of
// unfinished uploads is refused with 429 and the quota's message, and gets through once it has
// finished one.
func TestSatoriUploadCountsAgainstTheClientQuota(t *testing.T) {
	db := newTestDB(t)
	sf := satori.New(satori.Options{Path: "/satori", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := NewHub(Options{
		Version: "test", AccessToken: testToken, HeartbeatInterval: time.Hour, IDs: db.IDs(), Faces: []face.Face{sf},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ExpectedBots: 1,
	})
	h.AddBot(fakes.NewFakeBot("@bot:example.org"), 10001)
	const maxSize = 1 << 20
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, maxSize, nil)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	upload := func() (int, string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, _ := w.CreateFormFile("a", "a.txt")
		_, _ = fw.Write([]byte("hello"))
		_ = w.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/satori/v1/upload.create", &buf)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := upload(); status != http.StatusOK {
		t.Fatalf("upload.create within the quota: %d %s", status, body)
	}
	var held []string
	for {
		r := fragment(t, srv, map[string]any{"stage": "prepare", "name": "f.bin", "total_size": maxSize / 2})
		if r["retcode"] != float64(0) {
			break
		}
		held = append(held, r["data"].(map[string]any)["file_id"].(string))
		if len(held) > 16 {
			t.Fatalf("one client holds %d unfinished uploads", len(held))
		}
	}
	status, body := upload()
	if status != http.StatusTooManyRequests || !strings.Contains(body, "GATEWAY_MEDIA_UPLOAD_TTL") {
		t.Fatalf("upload.create of a client holding its quota: %d %s; want 429 with the quota's message", status, body)
	}
	okData(t, transfer(t, srv, held[0], 0, bytes.Repeat([]byte{'a'}, maxSize/2)))
	okData(t, fragment(t, srv, map[string]any{"stage": "finish", "file_id": held[0]}))
	if status, body := upload(); status != http.StatusOK {
		t.Fatalf("upload.create once an upload was finished: %d %s", status, body)
	}
}

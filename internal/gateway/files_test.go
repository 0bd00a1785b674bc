package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/gateway/intake"
)

func v12Action(t *testing.T, srv *httptest.Server, action string, params any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"action": action, "params": params})
	_, resp := post(t, srv, "/onebot/v12/", string(body), map[string]string{"Authorization": "Bearer " + testToken})
	return resp
}

func okData(t *testing.T, resp map[string]any) map[string]any {
	t.Helper()
	if resp["retcode"] != float64(0) {
		t.Fatalf("action failed: %v", resp)
	}
	d, _ := resp["data"].(map[string]any)
	return d
}

func httpGet(t *testing.T, u string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// upload_file (data) → get_file (url, data, path) → the signed link streams the same bytes
// without a token; a changed signature is 403 and an expired link 410.
func TestV12FilesAndMediaLinks(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, 1<<20, nil)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	payload := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	sum := sha256.Sum256(payload)
	up := okData(t, v12Action(t, srv, "upload_file", map[string]any{
		"type": "data", "name": "dot.gif", "data": base64.StdEncoding.EncodeToString(payload), "sha256": hex.EncodeToString(sum[:]),
	}))
	fileID, _ := up["file_id"].(string)
	if fileID == "" {
		t.Fatalf("upload_file data = %v", up)
	}
	bad := v12Action(t, srv, "upload_file", map[string]any{"type": "data", "name": "x", "data": "aGk=", "sha256": "00"})
	if bad["retcode"] != float64(v12BadParam) {
		t.Fatalf("wrong sha256: %v", bad)
	}
	got := okData(t, v12Action(t, srv, "get_file", map[string]any{"file_id": fileID, "type": "data"}))
	if got["name"] != "dot.gif" || got["data"] != base64.StdEncoding.EncodeToString(payload) || got["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("get_file data = %v", got)
	}
	got = okData(t, v12Action(t, srv, "get_file", map[string]any{"file_id": fileID, "type": "url"}))
	link, _ := got["url"].(string)
	if !strings.HasPrefix(link, "http://gw.test/media/"+fileID+"?") {
		t.Fatalf("get_file url = %v", got)
	}
	u, _ := url.Parse(link)
	local := srv.URL + u.RequestURI()
	status, body, hdr := httpGet(t, local) // no token
	if status != http.StatusOK || !bytes.Equal(body, payload) || hdr.Get("Content-Type") != "image/gif" || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET link: %d %q %v", status, body, hdr)
	}
	q := u.Query()
	q.Set("sig", strings.Repeat("A", len(q.Get("sig"))))
	if status, _, _ := httpGet(t, srv.URL+u.Path+"?"+q.Encode()); status != http.StatusForbidden {
		t.Fatalf("forged signature: %d, want 403", status)
	}
	if status, _, _ := httpGet(t, srv.URL+"/media/nosuchfile?"+u.RawQuery); status != http.StatusForbidden {
		t.Fatalf("signature of another file: %d, want 403", status)
	}
	got = okData(t, v12Action(t, srv, "get_file", map[string]any{"file_id": fileID, "type": "path"}))
	if p, _ := got["path"].(string); p == "" {
		t.Fatalf("get_file path = %v", got)
	}
	if r := v12Action(t, srv, "get_file", map[string]any{"file_id": "nosuchfile", "type": "url"}); r["retcode"] != float64(v12NotFound) {
		t.Fatalf("unknown file: %v", r)
	}

	// A link signed two days ago with a one-hour TTL has expired.
	past := newTestFiles(t, 1<<20, func() time.Time { return time.Now().Add(-48 * time.Hour) })
	h.opts.Media = intake.New(intake.Options{Files: past})
	info, err := past.Put(t.Context(), "old.txt", "text/plain", strings.NewReader("old"))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := url.Parse(past.URL(info.ID))
	if status, _, _ := httpGet(t, srv.URL+old.RequestURI()); status != http.StatusGone {
		t.Fatalf("expired link: %d, want 410", status)
	}
}

// The fragmented variants move a file in parts, checking sha256 and bounds.
func TestV12FragmentedFiles(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	h.opts.Media = intake.New(intake.Options{Files: newTestFiles(t, 1<<20, nil)})
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	payload := bytes.Repeat([]byte("0123456789"), 10)
	sum := sha256.Sum256(payload)
	prep := okData(t, v12Action(t, srv, "upload_file_fragmented", map[string]any{"stage": "prepare", "name": "digits.txt", "total_size": len(payload)}))
	up, _ := prep["file_id"].(string)
	for _, off := range []int{60, 0, 30} { // any order
		part := payload[off : off+30]
		if off == 60 {
			part = payload[60:]
		}
		okData(t, v12Action(t, srv, "upload_file_fragmented", map[string]any{"stage": "transfer", "file_id": up, "offset": off, "data": base64.StdEncoding.EncodeToString(part)}))
	}
	if r := v12Action(t, srv, "upload_file_fragmented", map[string]any{"stage": "transfer", "file_id": up, "offset": 95, "data": base64.StdEncoding.EncodeToString(payload[:10])}); r["retcode"] != float64(v12BadParam) {
		t.Fatalf("write beyond total_size: %v", r)
	}
	fin := okData(t, v12Action(t, srv, "upload_file_fragmented", map[string]any{"stage": "finish", "file_id": up, "sha256": hex.EncodeToString(sum[:])}))
	fileID, _ := fin["file_id"].(string)
	if r := v12Action(t, srv, "upload_file_fragmented", map[string]any{"stage": "finish", "file_id": up}); r["retcode"] != float64(v12NotFound) {
		t.Fatalf("finishing twice: %v", r)
	}
	info := okData(t, v12Action(t, srv, "get_file_fragmented", map[string]any{"stage": "prepare", "file_id": fileID}))
	if info["name"] != "digits.txt" || info["total_size"] != float64(len(payload)) || info["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("get_file_fragmented prepare = %v", info)
	}
	var got []byte
	for off := 0; off < len(payload); off += 40 {
		d := okData(t, v12Action(t, srv, "get_file_fragmented", map[string]any{"stage": "transfer", "file_id": fileID, "offset": off, "size": 40}))
		b, _ := base64.StdEncoding.DecodeString(d["data"].(string))
		got = append(got, b...)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("downloaded %q", got)
	}
}

// Without a file store the file actions say so; a bot without a message index cannot get_msg.
func TestFilesWithoutMedia(t *testing.T) {
	h, _, _ := newTestHub(t, testToken)
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	if r := v12Action(t, srv, "get_file", map[string]any{"file_id": "x", "type": "url"}); r["retcode"] != float64(v12UnsupportedAction) {
		t.Fatalf("get_file without media: %v", r)
	}
	if r := v12Action(t, srv, "matrix.get_message", map[string]any{"message_id": "$x"}); r["retcode"] != float64(v12UnsupportedAction) {
		t.Fatalf("matrix.get_message on a fake bot: %v", r)
	}
	if status, _, _ := httpGet(t, srv.URL+"/media/x?exp=1&sig=y"); status != http.StatusNotFound {
		t.Fatalf("media link without media: %d", status)
	}
}

package satori

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/test/fakes"
)

// fakeUploadHost is fakeHost that also stores uploads (face.Uploader): in memory, with links
// https://gw.test/media/{n} that its ResolveMedia takes back as the stored file.
type fakeUploadHost struct {
	fakeHost
	mu    sync.Mutex
	files map[string]string // link → name, type and content
}

func (h *fakeUploadHost) Upload(_ context.Context, f face.UploadFile) (string, error) {
	name, mimeType := f.Name, f.MIMEType
	data, err := io.ReadAll(f.Body)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	link := fmt.Sprintf("https://gw.test/media/%d", len(h.files))
	h.files[link] = name + " " + mimeType + " " + string(data)
	return link, nil
}

var _ face.Uploader = (*fakeUploadHost)(nil)

func multipartBody(t *testing.T, parts ...[3]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts { // field, file name, content
		fw, err := w.CreateFormFile(p[0], p[1])
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(p[2]))
	}
	w.Close()
	return w.FormDataContentType(), &buf
}

func postRaw(t *testing.T, srv *httptest.Server, method, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/"+method, body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// upload.create stores each part of a multipart body and answers {field: link}; the link is a
// src message.create takes. Bodies are limited as message.create's (MaxBody), not by
// MaxActionSize; a body that is not multipart, or has no file, is 400.
func TestAPIUploadCreate(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	host := &fakeUploadHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, files: map[string]string{}}
	f := New(Options{Host: host, MaxBody: 1 << 20, MaxActionSize: 1 << 10})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)

	big := strings.Repeat("x", 4<<10) // above MaxActionSize, within MaxBody
	ct, body := multipartBody(t, [3]string{"a", "a.png", "PNG"}, [3]string{"b", "b.txt", big})
	status, resp := postRaw(t, srv, "upload.create", ct, body)
	var links map[string]string
	if status != http.StatusOK || json.Unmarshal(resp, &links) != nil || len(links) != 2 {
		t.Fatalf("upload.create: %d %s, want 200 with two links", status, resp)
	}
	if got := host.files[links["a"]]; got != "a.png application/octet-stream PNG" {
		t.Fatalf("a stored as %q", got)
	}
	if got := host.files[links["b"]]; got != "b.txt application/octet-stream "+big {
		t.Fatalf("b stored as %.40q…", got)
	}
	tf := &testFace{face: f, bot: bot, srv: srv}
	if status, resp := tf.post(t, "message.create", `{"channel_id":"`+string(fakes.FakeRoom)+`","content":"<img src=\"`+links["a"]+`\"/>"}`, nil); status != http.StatusOK {
		t.Fatalf("message.create with the link: %d %s", status, resp)
	}
	want := []model.Segment{model.Media{Kind: model.MediaImage, File: model.FileInfo{ID: "stored:" + links["a"]}}}
	if sent := bot.Sent(); len(sent) != 1 || !reflect.DeepEqual(sent[0].Segments, want) {
		t.Fatalf("sent %+v, want the uploaded image", sent)
	}

	for name, c := range map[string]struct {
		ct, body, want string
		status         int
	}{
		"json":      {"application/json", `{}`, "multipart/form-data", 400},
		"no file":   {"multipart/form-data; boundary=xx", "--xx--\r\n", "no file", 400},
		"malformed": {"multipart/form-data; boundary=xx", "--xx\r\nnonsense", "malformed", 400},
	} {
		if status, resp := postRaw(t, srv, "upload.create", c.ct, strings.NewReader(c.body)); status != c.status || !strings.Contains(string(resp), c.want) {
			t.Errorf("%s: %d %s, want %d with %q", name, status, resp, c.status, c.want)
		}
	}
	ct, body = multipartBody(t, [3]string{"huge", "h.bin", strings.Repeat("x", 2<<20)})
	if status, resp := postRaw(t, srv, "upload.create", ct, body); status != http.StatusRequestEntityTooLarge {
		t.Errorf("an upload above MaxBody: %d %s, want 413", status, resp)
	}

	// A host that stores no files: 404 saying so.
	plain := newTestFace(t, Options{})
	ct, body = multipartBody(t, [3]string{"a", "a.png", "PNG"})
	if status, resp := postRaw(t, plain.srv, "upload.create", ct, body); status != http.StatusNotFound || !strings.Contains(string(resp), "stores no uploads") {
		t.Errorf("without uploads: %d %s, want 404", status, resp)
	}
}

// upload.create takes at most face.MaxUploadFiles parts: a body with more is refused with 400
// saying the bound, and none of its files is stored; a body of exactly that many is taken.
func TestAPIUploadCreateBoundsTheParts(t *testing.T) {
	bot := fakes.NewFakeBot("@bot:example.org")
	host := &fakeUploadHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, files: map[string]string{}}
	f := New(Options{Host: host, MaxBody: 1 << 20, MaxActionSize: 1 << 10})
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	parts := func(n int) [][3]string {
		var out [][3]string
		for i := range n {
			out = append(out, [3]string{fmt.Sprintf("f%d", i), fmt.Sprintf("f%d.txt", i), "x"})
		}
		return out
	}

	ct, body := multipartBody(t, parts(1000)...)
	status, resp := postRaw(t, srv, "upload.create", ct, body)
	if status != http.StatusBadRequest || !strings.Contains(string(resp), fmt.Sprintf("at most %d files", face.MaxUploadFiles)) {
		t.Errorf("1000 parts: %d %s, want 400 naming the bound of %d", status, resp, face.MaxUploadFiles)
	}
	ct, body = multipartBody(t, parts(face.MaxUploadFiles+1)...)
	if status, resp := postRaw(t, srv, "upload.create", ct, body); status != http.StatusBadRequest {
		t.Errorf("%d parts: %d %s, want 400", face.MaxUploadFiles+1, status, resp)
	}
	host.mu.Lock()
	stored := len(host.files)
	host.mu.Unlock()
	if stored != 0 {
		t.Fatalf("a refused body stored %d files", stored)
	}
	ct, body = multipartBody(t, parts(face.MaxUploadFiles)...)
	var links map[string]string
	if status, resp := postRaw(t, srv, "upload.create", ct, body); status != http.StatusOK || json.Unmarshal(resp, &links) != nil || len(links) != face.MaxUploadFiles {
		t.Errorf("%d parts: %d %s, want 200 with as many links", face.MaxUploadFiles, status, resp)
	}
}

// FuzzUploadCreate: whatever body and Content-Type a client sends, upload.create never panics,
// and what it refuses is a bad param (400), never an internal error.
func FuzzUploadCreate(f *testing.F) {
	ct, body := multipartBody(&testing.T{}, [3]string{"a", "a.png", "PNG"})
	f.Add(ct, body.String())
	f.Add("multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhi\r\n--xx--\r\n")
	f.Add("multipart/form-data; boundary=xx", "--xx\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--xx--\r\n")
	f.Add("text/plain", "")
	f.Fuzz(func(t *testing.T, contentType, body string) {
		bot := fakes.NewFakeBot("@bot:example.org")
		host := &fakeUploadHost{fakeHost: fakeHost{bots: []model.Bot{bot}}, files: map[string]string{}}
		c := &call{face: New(Options{Host: host}), bot: bot, body: []byte(body), contentType: contentType}
		res, err := uploadCreate(context.Background(), c)
		if err != nil {
			if model.KindOf(err) != model.ErrBadParam {
				t.Fatalf("refused with %v, want a bad param", err)
			}
			return
		}
		if len(res) == 0 || len(res) != len(host.files) {
			t.Fatalf("answered %#v for %d files stored", res, len(host.files))
		}
	})
}

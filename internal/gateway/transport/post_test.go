package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The X-Signature of a body matches the vector (HMAC-SHA1, as OneBot v11 and go-cqhttp sign).
func TestSignatureVector(t *testing.T) {
	var v struct{ Secret, Body, Signature string }
	b, err := os.ReadFile(filepath.Join("testdata", "webhook_signature.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if got := Signature(v.Secret, []byte(v.Body)); got != v.Signature {
		t.Fatalf("signature = %s, want %s", got, v.Signature)
	}
}

// Post's answer says what became of the event: an answer of any status is a delivery (only a
// 200 carries a reply to run); 502/503/504 and a refused connection are "not delivered"; a
// request written whole that gets no answer is "taken, unanswered"; no error repeats the URL's
// token.
func TestPostAnswers(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Test") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"action":"x"}]`))
		case "/accepted":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`ignored`))
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/hang":
			<-hang
		}
	}))
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for the hanging handler
	hdr := http.Header{"X-Test": {"yes"}}
	post := func(path string) (Answer, error) {
		return Post(context.Background(), srv.Client(), srv.URL+path+"?access_token=s3cr3t-token", hdr, []byte(`{}`), time.Second)
	}
	ans, err := post("/ok")
	if err != nil || !ans.OK() || string(ans.Reply()) != `[{"action":"x"}]` || ans.ContentType != "application/json" {
		t.Fatalf("200: %+v %v", ans, err)
	}
	if ans, err := post("/accepted"); err != nil || !ans.OK() || ans.Reply() != nil {
		t.Fatalf("202: %+v %v, want taken without a reply", ans, err)
	}
	if ans, err := post("/missing"); err != nil || ans.OK() || ans.Status != http.StatusNotFound {
		t.Fatalf("404: %+v %v, want an answer (delivered)", ans, err)
	}
	_, err = post("/down")
	var pe *PushError
	if !errors.As(err, &pe) || Unanswered(err) {
		t.Fatalf("503: %v, want not delivered and not taken", err)
	}
	_, err = post("/hang")
	if !Unanswered(err) {
		t.Fatalf("no answer: %v, want taken but unanswered", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = Post(context.Background(), http.DefaultClient, closed.URL+"/?access_token=s3cr3t-token", hdr, []byte(`{}`), time.Second)
	if !errors.As(err, &pe) || Unanswered(err) {
		t.Fatalf("refused connection: %v, want not delivered and not taken", err)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error repeats the token: %v", err)
	}
}

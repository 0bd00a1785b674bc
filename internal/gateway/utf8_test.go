package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/matrix-onebot/gateway/internal/model"
)

// A text frame must be UTF-8 (RFC 6455 §5.6, §8.1): one that is not closes the connection with
// 1007, and nothing of it comes back.
func TestWSTextFrameWithInvalidUTF8Closes1007(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	for _, path := range []string{"/onebot/v12/", "/onebot/v11/", "/onebot/v11/api"} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := dialWS(t, ctx, wsURL(srv, path), nil)
			if err := c.Write(ctx, websocket.MessageText, []byte("{\"action\":\"get_version\",\"params\":{},\"echo\":\"bad\xff\xfe\"}")); err != nil {
				t.Fatal(err)
			}
			for {
				typ, b, err := c.Read(ctx)
				if err != nil {
					if st := websocket.CloseStatus(err); st != websocket.StatusInvalidFramePayloadData {
						t.Fatalf("connection ended with %v (status %d), want close 1007", err, st)
					}
					return
				}
				if !utf8.Valid(b) || strings.Contains(string(b), `"echo"`) {
					t.Fatalf("got a %v frame %q in answer to invalid UTF-8, want close 1007", typ, b)
				}
			}
		})
	}
}

// A binary frame or an HTTP body that is not UTF-8 is refused as a bad request without its echo,
// so that no invalid UTF-8 goes out in a text frame or a JSON body.
func TestInvalidUTF8RequestIsRefusedWithoutEcho(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	bad := []byte("{\"action\":\"get_version\",\"params\":{},\"echo\":\"bad\xff\xfe\"}")
	for _, tc := range []struct {
		path string
		want float64
	}{{"/onebot/v12/", v12BadRequest}, {"/onebot/v11/", v11BadRequest}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := dialWS(t, ctx, wsURL(srv, tc.path), nil)
		if err := c.Write(ctx, websocket.MessageBinary, bad); err != nil {
			t.Fatal(err)
		}
		for {
			typ, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("%s: %v", tc.path, err)
			}
			if !utf8.Valid(b) {
				t.Fatalf("%s: a %v frame with invalid UTF-8: %q", tc.path, typ, b)
			}
			if !strings.Contains(string(b), `"retcode"`) {
				continue // connect, status_update
			}
			f := decodeObject(t, b)
			if f["retcode"] != tc.want || f["echo"] != nil {
				t.Fatalf("%s: binary frame with invalid UTF-8 answered %s, want retcode %v without echo", tc.path, b, tc.want)
			}
			break
		}
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/onebot/v12/", strings.NewReader(string(bad)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !utf8.Valid(b) {
		t.Fatalf("HTTP answer with invalid UTF-8: %q", b)
	}
	if f := decodeObject(t, b); f["retcode"] != float64(v12BadRequest) || f["echo"] != nil {
		t.Fatalf("HTTP body with invalid UTF-8 answered %s, want retcode %d without echo", b, v12BadRequest)
	}
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q: %v", b, err)
	}
	return m
}

// Whatever goes out is UTF-8, even a json.RawMessage (a homeserver's raw answer, an echo) that
// is not: encoding/json copies those byte for byte.
func TestMarshalNeverEmitsInvalidUTF8(t *testing.T) {
	raw := json.RawMessage("{\"body\":\"a\xffb\",\"ok\":\"é\"}")
	b, err := marshal(map[string]any{"data": raw, "echo": json.RawMessage("\"\xc3\"")})
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(b) {
		t.Fatalf("marshal emitted invalid UTF-8: %q", b)
	}
	var got struct {
		Data map[string]string `json:"data"`
		Echo string            `json:"echo"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	if got.Data["body"] != "a\uFFFDb" || got.Data["ok"] != "é" || got.Echo != "\uFFFD" {
		t.Fatalf("marshal gave %q", b)
	}
}

// The close frame that ends a connection (here 1007) is sent even when the gateway is in the
// middle of writing an event: it comes after that event, not instead of it (cancelling the
// connection's context during a write drops the TCP connection with no close frame).
func TestWSCloseStatusSentAfterAWriteUnderWay(t *testing.T) {
	h, _, _ := newTestHub(t, "")
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	ev := sampleEvent(false)
	big := strings.Repeat("x", 4<<20) // more than loopback buffers: the write waits for the reader
	ev.Message.Segments, ev.Message.Plain = []model.Segment{model.Text{Text: big}}, big
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c := dialWS(t, ctx, wsURL(srv, "/onebot/v12/"), nil)
		c.SetReadLimit(-1)
		for range 2 { // connect and status_update: the connection is subscribed
			if _, _, err := c.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		_, r, err := c.Reader(ctx) // the event's frame header: the gateway is writing it
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("{\"action\":\"get_version\",\"echo\":\"\xff\"}")); err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(r); err != nil || len(b) < len(big) {
			t.Fatalf("connection %d: the event being written was cut off after %d bytes: %v", i, len(b), err)
		}
		if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
			t.Fatalf("connection %d ended with %v (status %d), want close 1007 after the event", i, err, websocket.CloseStatus(err))
		}
		cancel()
	}
}

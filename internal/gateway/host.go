package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"maunium.net/go/mautrix/id"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
	"github.com/matrix-onebot/gateway/internal/model"
)

// faceHost is what the hub gives a face that mounts routes of its own (face.Host).
type faceHost struct{ h *Hub }

var _ face.Host = faceHost{}

func (fh faceHost) Bots() []model.Bot {
	var out []model.Bot
	for _, b := range fh.h.reg.botList() {
		out = append(out, b.Bot)
	}
	return out
}

func (fh faceHost) Bot(u id.UserID) model.Bot {
	if e := fh.h.reg.botByUser(u); e != nil {
		return e.Bot
	}
	return nil
}

func (fh faceHost) Grant(r *http.Request) model.Bot {
	if g := grantOf(r.Context()); g.bot != nil {
		return g.bot.Bot
	}
	return nil
}

func (fh faceHost) Logger() *slog.Logger { return fh.h.log }

func (fh faceHost) Authorize(token string) (model.Bot, bool) {
	if !fh.h.web.authRequired() {
		return nil, true
	}
	g, ok := fh.h.web.checkToken(token)
	if !ok || g.bot == nil {
		return nil, ok
	}
	return g.bot.Bot, true
}

func (fh faceHost) ResolveMedia(ctx context.Context, segs []model.Segment) error {
	return fh.h.opts.Media.ResolveSources(ctx, segs)
}

// Subscribe streams one bot's events (or every bot's) encoded by f (package push).
func (fh faceHost) Subscribe(ctx context.Context, f face.Face, sub face.Subscription) face.Stream {
	return fh.h.push.Subscribe(ctx, f, sub)
}

var _ face.BodyReader = faceHost{}

// BodyReader returns the hub's budget of request bytes (GATEWAY_MAX_BYTES_IN_FLIGHT) for a reader
// of request bodies in front of the hub, such as the cluster proxy.
func BodyReader(h *Hub) face.BodyReader { return faceHost{h} }

// ReadBody implements face.BodyReader as readRequest does for OneBot: MaxActionSize is taken
// before reading, the rest up to limit only when the body goes on.
func (fh faceHost) ReadBody(ctx context.Context, r io.Reader, limit int64) ([]byte, func(), error) {
	f := fh.h.inflight
	small := min(fh.h.opts.Web.MaxActionSize, limit)
	if err := f.Acquire(ctx, small); err != nil {
		return nil, nil, faceBusy(ctx, err)
	}
	held := small
	fail := func(err error) ([]byte, func(), error) {
		f.Release(held)
		return nil, nil, err
	}
	buf, err := web.ReadUpTo(r, web.FirstBuffer(-1, small), small)
	if err != nil {
		return fail(err)
	}
	if int64(len(buf)) > small {
		if int64(len(buf)) > limit {
			return fail(face.ErrTooLarge)
		}
		if err := f.Acquire(ctx, limit-small); err != nil {
			return fail(faceBusy(ctx, err))
		}
		held = limit
		if buf, err = web.ReadUpTo(r, buf, limit); err != nil {
			return fail(err)
		}
		if int64(len(buf)) > limit {
			return fail(face.ErrTooLarge)
		}
	}
	if keep := int64(cap(buf)); keep < held {
		f.Release(held - keep)
		held = keep
	}
	var once sync.Once
	return buf, func() { once.Do(func() { f.Release(held) }) }, nil
}

func faceBusy(ctx context.Context, err error) error {
	if err = web.Busy(ctx, err); errors.Is(err, web.ErrBusy) {
		return face.ErrBusy
	}
	return err
}

var _ face.Retainer = faceHost{}

var _ face.AuthLimiter = faceHost{}

// AuthAllowed, AuthFailed and AuthRetryAfter implement face.AuthLimiter with the hub's limiter,
// the one the OneBot transports' tokens count against too.
func (fh faceHost) AuthAllowed(remoteAddr string) bool { return fh.h.authFails.Allowed(remoteAddr) }
func (fh faceHost) AuthFailed(f, remoteAddr string)    { fh.h.authFails.Failed(f, remoteAddr) }
func (fh faceHost) AuthRetryAfter() int                { return fh.h.authFails.RetryAfter() }

// Retained implements face.Retainer: the outbox holds frames of f's stream key.
func (fh faceHost) Retained(ctx context.Context, f face.Face, key string) (bool, error) {
	if fh.h.opts.Outbox == nil || fh.h.opts.OutboxLimits.MaxEvents <= 0 || key == "" {
		return false, nil
	}
	seq, err := fh.h.opts.Outbox.OutboxNewest(ctx, f.Name()+":"+key)
	return seq > 0, err
}

var _ face.Uploader = faceHost{}

// Upload implements face.Uploader with the media store (intake.Media.Put), within the client's
// upload quota (intake.Media.ReserveUpload): the link is the file's signed /media URL, which
// ResolveMedia takes back without fetching it.
func (fh faceHost) Upload(ctx context.Context, f face.UploadFile) (string, error) {
	m := fh.h.opts.Media
	if m.Files() == nil {
		return "", model.Errorf(model.ErrNotFound, "media is not configured")
	}
	release, err := m.ReserveUpload(f.Client, f.Size)
	if err != nil {
		return "", err
	}
	defer release()
	info, err := m.Put(ctx, f.Name, f.MIMEType, f.Body)
	if err != nil {
		return "", err
	}
	return m.Files().URL(info.ID), nil
}

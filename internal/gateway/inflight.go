package gateway

import (
	"context"
	"encoding/json"
	"io"

	"github.com/matrix-onebot/gateway/internal/gateway/core"
	"github.com/matrix-onebot/gateway/internal/gateway/web"
)

// request is one action request held in memory, counted in flight until release.
type request struct {
	data []byte
	held int64
	f    *web.Budget
}

func (r *request) release() {
	r.f.Release(r.held)
	r.held = 0
}

// errRequestTooLarge: a request over its limit (package core: the connections report it too).
type errRequestTooLarge = core.RequestTooLarge

// fileActions may carry a file as base64 in their params, so their requests may be as large as
// an upload; every other action is limited to MaxActionSize.
var fileActions = map[int]map[string]bool{
	11: {"send_msg": true, "send_group_msg": true, "send_private_msg": true},
	12: {"send_message": true, "upload_file": true, "upload_file_fragmented": true},
}

// readRequest reads one action request from r into memory within the process's budget, in two
// steps so that requests half-read by many clients rarely wait on each other while holding bytes:
//
//  1. it takes MaxActionSize before reading (waiting, holding nothing, while the process is
//     full), which every request of an action without a file fits in;
//  2. a request that goes on is an upload: it takes the rest of MaxUploadSize at once, then reads
//     on. Only these wait while holding bytes; they are few (a full process admits no new
//     request while one waits), and a wait ends after the read timeout.
//
// size is the request's length when the transport knows it (HTTP Content-Length), else -1. What
// the request does not use is given back once it is read. action is the action when the
// transport names it (the v11 HTTP path); else it is read from the start of the request once
// that passes MaxActionSize, and from the whole request at the end (JSON keeps the last of
// duplicate keys).
func (wf webFront) readRequest(ctx context.Context, r io.Reader, size int64, version int, action string) (*request, error) {
	f, o := wf.h.inflight, wf.h.opts.Web
	small := o.MaxActionSize
	req := &request{f: f}
	if err := f.Acquire(ctx, small); err != nil {
		return nil, web.Busy(ctx, err)
	}
	req.held = small
	fail := func(err error) (*request, error) {
		req.release()
		return nil, err
	}
	buf, err := web.ReadUpTo(r, web.FirstBuffer(size, small), small)
	if err != nil {
		return fail(err)
	}
	if int64(len(buf)) > small {
		// Step 2: only an upload may be this large.
		if action != "" && !fileActions[version][action] {
			return fail(&errRequestTooLarge{Limit: o.MaxActionSize, Action: action})
		}
		if name, ok := web.PeekAction(buf); action == "" && ok && !fileActions[version][name] {
			return fail(&errRequestTooLarge{Limit: o.MaxActionSize, Action: name})
		}
		if err := f.Acquire(ctx, o.MaxUploadSize-small); err != nil {
			return fail(web.Busy(ctx, err))
		}
		req.held = o.MaxUploadSize
		if buf, err = web.ReadUpTo(r, buf, o.MaxUploadSize); err != nil {
			return fail(err)
		}
		if int64(len(buf)) > o.MaxUploadSize {
			return fail(&errRequestTooLarge{Limit: o.MaxUploadSize})
		}
		if !fileActions[version][action] { // not named by the transport
			var probe struct {
				Action string `json:"action"`
			}
			if json.Unmarshal(buf, &probe) == nil && !fileActions[version][probe.Action] {
				return fail(&errRequestTooLarge{Limit: o.MaxActionSize, Action: probe.Action})
			}
		}
	}
	// Keep what the request holds in memory; give back the rest.
	if keep := int64(cap(buf)); keep < req.held {
		f.Release(req.held - keep)
		req.held = keep
	}
	req.data = buf
	return req, nil
}

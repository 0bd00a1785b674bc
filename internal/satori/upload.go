package satori

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// uploadCreate stores the files of a multipart/form-data body (each part a file) in the
// gateway's file store and answers {part name: link}; the link (the gateway's signed media URL)
// may be a message element's src in message.create. The body was read within the upload limit
// (fileMethods) and the process's budget of request bytes; each file counts against the client's
// upload quota while it is stored (face.Uploader), which refuses with 429 when it is full. A body
// of more than face.MaxUploadFiles parts is refused (400) before any file is stored.
func uploadCreate(ctx context.Context, c *call) (map[string]string, error) {
	up, ok := c.face.host.(face.Uploader)
	if !ok {
		return nil, model.Errorf(model.ErrNotFound, "this gateway stores no uploads (media is not configured)")
	}
	mediaType, params, err := mime.ParseMediaType(c.contentType)
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, model.Errorf(model.ErrBadParam, "upload.create takes a multipart/form-data body (each part a file), not %q", c.contentType)
	}
	if n, err := countParts(c.body, params["boundary"], face.MaxUploadFiles+1); err == nil && n > face.MaxUploadFiles {
		return nil, model.Errorf(model.ErrBadParam, "upload.create takes at most %d files in one call (the per-client upload quota); "+
			"this body has more: send them in several calls", face.MaxUploadFiles)
	}
	mr := multipart.NewReader(bytes.NewReader(c.body), params["boundary"])
	out := map[string]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, model.Errorf(model.ErrBadParam, "the multipart body is malformed: %v", err)
		}
		field := part.FormName()
		if field == "" {
			return nil, model.Errorf(model.ErrBadParam, "a part of the body has no name (Content-Disposition: form-data; name=…)")
		}
		if _, dup := out[field]; dup {
			return nil, model.Errorf(model.ErrBadParam, "the body has two parts named %q", field)
		}
		name := part.FileName()
		if name == "" {
			name = field
		}
		// Each file holds the client's upload quota while it is stored, as a OneBot
		// fragmented upload does; the body's length bounds its size.
		link, err := up.Upload(ctx, face.UploadFile{Client: c.client, Size: int64(len(c.body)), Name: name,
			MIMEType: part.Header.Get("Content-Type"), Body: part})
		if err != nil {
			return nil, err
		}
		out[field] = link
	}
	if len(out) == 0 {
		return nil, model.Errorf(model.ErrBadParam, "the body has no file")
	}
	return out, nil
}

// countParts counts the parts of a multipart body, up to limit; a malformed body is an error
// (uploadCreate then says so when it reaches the malformed part).
func countParts(body []byte, boundary string, limit int) (int, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	n := 0
	for n < limit {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		_ = part.Close()
		n++
	}
	return n, nil
}

package v12

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/matrix-onebot/gateway/internal/model"
	"github.com/matrix-onebot/gateway/internal/onebot"
)

// The v12 file actions (upload_file, get_file and their fragmented variants), served with the
// hub's media service (onebot.Host.Media). Files are the gateway's, not one bot's: a file id
// works with every bot.

// callMedia is the hub's media service for a file action.
func callMedia(c *onebot.Call) (onebot.Media, error) {
	if m := c.Host.Media(); m != nil {
		return m, nil
	}
	return nil, onebot.ErrUnsupportedAction("media is not configured")
}

type uploadFileParams struct {
	Type    string            `json:"type"`
	Name    string            `json:"name"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	Path    string            `json:"path,omitempty"`
	Data    *string           `json:"data,omitempty"` // bytes: base64 in JSON
	SHA256  string            `json:"sha256,omitempty"`
}

func uploadFile(c *onebot.Call, p uploadFileParams) (*fileID, error) {
	m, err := callMedia(c)
	if err != nil {
		return nil, err
	}
	if p.Name == "" {
		return nil, model.Errorf(model.ErrBadParam, "name is required")
	}
	var info model.FileInfo
	switch p.Type {
	case "url":
		if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
			return nil, model.Errorf(model.ErrBadParam, "url must be an http(s) URL")
		}
		info, err = m.Fetch(c.Ctx, p.URL, p.Name, p.Headers)
	case "path":
		info, err = m.ReadLocalPath(c.Ctx, p.Path, p.Name)
	case "data":
		if p.Data == nil {
			return nil, model.Errorf(model.ErrBadParam, "data is required for type data")
		}
		info, err = m.PutBase64(c.Ctx, p.Name, *p.Data)
	default:
		return nil, onebot.ErrUnsupportedParam("type must be url, path or data")
	}
	if err != nil {
		return nil, fileError(err)
	}
	if p.SHA256 != "" && !strings.EqualFold(p.SHA256, info.SHA256) {
		return nil, model.Errorf(model.ErrBadParam, "sha256 does not match the file (got %s)", info.SHA256)
	}
	return &fileID{FileID: info.ID}, nil
}

// fileError gives an oversized file its own code.
func fileError(err error) error {
	if errors.Is(err, model.ErrTooLarge) {
		return onebot.ErrFileTooLarge("%s", err.Error())
	}
	return err
}

type getFileParams struct {
	FileID string `json:"file_id"`
	Type   string `json:"type"`
}

// file answers get_file: the file as a url (with headers), a path or data, by type. Result
// types: their fields are in the order of their JSON names, so that they marshal as the maps
// they were.
type file struct {
	Data    string             `json:"data,omitempty"`    // base64
	Headers *map[string]string `json:"headers,omitempty"` // with url: none needed ({})
	Name    string             `json:"name"`
	Path    string             `json:"path,omitempty"`
	SHA256  string             `json:"sha256,omitempty"`
	URL     string             `json:"url,omitempty"`
}

func getFile(c *onebot.Call, p getFileParams) (*file, error) {
	m, err := callMedia(c)
	if err != nil {
		return nil, err
	}
	files := m.Files()
	out := &file{}
	var info model.FileInfo
	switch p.Type {
	case "url":
		if info, err = files.Stat(c.Ctx, p.FileID); err == nil {
			out.URL = files.URL(p.FileID)
			out.Headers = &map[string]string{}
		}
	case "path":
		var path string
		if path, info, err = files.LocalPath(c.Ctx, p.FileID); err == nil {
			out.Path = path
		}
	case "data":
		var rc io.ReadCloser
		if info, rc, err = files.Open(c.Ctx, p.FileID); err == nil {
			data, rerr := io.ReadAll(io.LimitReader(rc, files.MaxSize()+1))
			rc.Close()
			if rerr != nil {
				return nil, &model.ActionError{Kind: model.ErrNetwork, Message: "failed to read the file", Err: rerr}
			}
			if int64(len(data)) > files.MaxSize() {
				return nil, fileError(model.ErrTooLarge)
			}
			sum := sha256.Sum256(data)
			info.SHA256 = hex.EncodeToString(sum[:])
			out.Data = base64.StdEncoding.EncodeToString(data)
		}
	default:
		return nil, onebot.ErrUnsupportedParam("type must be url, path or data")
	}
	if err != nil {
		return nil, fileError(err)
	}
	out.Name, out.SHA256 = info.Name, info.SHA256
	return out, nil
}

// Fragmented uploads (intake/uploads.go): prepare gives an upload id, transfer writes at an offset,
// finish stores the file (whole, and checking sha256) and gives its file id.

const maxFragment = 16 << 20

// fragmentParams are upload_file_fragmented's params (by stage: prepare name, total_size;
// transfer file_id, offset, data; finish file_id, sha256).
type fragmentParams struct {
	Stage     string  `json:"stage"`
	Name      string  `json:"name,omitempty"`
	TotalSize int64   `json:"total_size,omitempty"`
	FileID    string  `json:"file_id,omitempty"`
	Offset    int64   `json:"offset,omitempty"`
	Data      *string `json:"data,omitempty"`
	SHA256    string  `json:"sha256,omitempty"`
}

// getFragmentParams are get_file_fragmented's params (transfer: offset and size).
type getFragmentParams struct {
	Stage  string `json:"stage"`
	FileID string `json:"file_id"`
	Offset int64  `json:"offset,omitempty"`
	Size   int64  `json:"size,omitempty"`
}

// fileID answers upload_file and the prepare and finish stages of upload_file_fragmented.
type fileID struct {
	FileID string `json:"file_id"`
}

func uploadFileFragmented(c *onebot.Call, p fragmentParams) (*fileID, error) {
	m, err := callMedia(c)
	if err != nil {
		return nil, err
	}
	switch p.Stage {
	case "prepare":
		id, err := m.PrepareUpload(c.Ctx, p.Name, p.TotalSize)
		if err != nil {
			return nil, fileError(err)
		}
		return &fileID{FileID: id}, nil
	case "transfer":
		if p.Data == nil {
			return nil, model.Errorf(model.ErrBadParam, "data is required")
		}
		return nil, m.TransferBase64(p.FileID, p.Offset, *p.Data)
	case "finish":
		info, err := m.FinishUpload(c.Ctx, p.FileID, p.SHA256)
		if err != nil {
			return nil, fileError(err)
		}
		return &fileID{FileID: info.ID}, nil
	}
	return nil, model.Errorf(model.ErrBadParam, "stage must be prepare, transfer or finish")
}

// fileFragment answers get_file_fragmented: prepare {name, sha256, total_size}, transfer
// {data} (base64).
type fileFragment struct {
	Data      *string `json:"data,omitempty"`
	Name      *string `json:"name,omitempty"`
	SHA256    *string `json:"sha256,omitempty"`
	TotalSize *int64  `json:"total_size,omitempty"`
}

func getFileFragmented(c *onebot.Call, p getFragmentParams) (*fileFragment, error) {
	m, err := callMedia(c)
	if err != nil {
		return nil, err
	}
	path, info, err := m.Files().LocalPath(c.Ctx, p.FileID)
	if err != nil {
		return nil, fileError(err)
	}
	switch p.Stage {
	case "prepare":
		return &fileFragment{Name: &info.Name, TotalSize: &info.Size, SHA256: &info.SHA256}, nil
	case "transfer":
		if p.Offset < 0 || p.Size <= 0 || p.Size > maxFragment {
			return nil, model.Errorf(model.ErrBadParam, "offset must be >= 0 and size between 1 and %d", maxFragment)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		buf := make([]byte, p.Size)
		n, err := f.ReadAt(buf, p.Offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		data := base64.StdEncoding.EncodeToString(buf[:n])
		return &fileFragment{Data: &data}, nil
	}
	return nil, model.Errorf(model.ErrBadParam, "stage must be prepare or transfer")
}

// Package intake takes in the files OneBot clients give the gateway: sources in message
// segments (http(s) URLs fetched through a dialer that refuses private networks, file:// paths
// inside one folder, base64, data: URLs, file ids), the v12 fragmented uploads, and the signed
// /media links the gateway serves. It knows the file store (model.Files), not the hub.
package intake

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"

	"github.com/matrix-onebot/gateway/internal/redact"
)

// userAgent names the gateway to the servers it fetches from (gateway.Impl).
const userAgent = "matrix-onebot"

// Options configure how the gateway takes in files from OneBot clients.
type Options struct {
	Files model.Files
	// AllowedNetworks are private, loopback or link-local networks that URLs may still be fetched
	// from (GATEWAY_MEDIA_ALLOWED_NETWORKS); every other such address is refused.
	AllowedNetworks []netip.Prefix
	// LocalDir is the only folder file:// sources may name (GATEWAY_MEDIA_LOCAL_DIR); "" = none.
	LocalDir     string
	FetchTimeout time.Duration // one URL fetch, redirects included; default 60 s
	// UploadTTL is how long an unfinished upload_file_fragmented lives without a call
	// (GATEWAY_MEDIA_UPLOAD_TTL); default 5 min.
	UploadTTL time.Duration
	// UploadDir is where those uploads are staged (GATEWAY_FILES_DIR); "" = the system's
	// temporary folder.
	UploadDir string
}

// Media turns the file sources OneBot clients give (http(s) URLs, file:// paths, base64, data
// URLs, file ids) into files of the store. URLs are fetched with a dialer that checks every
// address it connects to, so neither a redirect nor a DNS answer that changes between lookups
// (rebinding) can reach a refused network.
type Media struct {
	opts    Options
	client  *http.Client
	uploads uploads // upload_file_fragmented in progress
}

// errRefusedAddress marks a connection the dialer refused.
var errRefusedAddress = errors.New("address refused")

// New prepares the fetcher; it does no I/O.
func New(opts Options) *Media {
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 60 * time.Second
	}
	m := &Media{opts: opts}
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: m.checkDial}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the real destination from the dial check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConns:          8,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	m.client = &http.Client{
		Transport: transport,
		Timeout:   opts.FetchTimeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s: URL refused", req.URL.Scheme)
			}
			return nil // the dialer checks the new address
		},
	}
	return m
}

// refusedNetworks are never fetched from unless allowed: besides what netip classifies as
// private, loopback, link-local, multicast or unspecified.
var refusedNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 can reach any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"), // 6to4 embeds IPv4 addresses
}

// addressAllowed tells whether the gateway may connect to ip to fetch media.
func (m *Media) addressAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range m.opts.AllowedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range refusedNetworks {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// checkDial runs for every connection, after DNS resolution: the address is the one dialled.
func (m *Media) checkDial(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", errRefusedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !m.addressAllowed(ip) {
		return fmt.Errorf("%w: %s is a private, loopback, link-local or reserved address (allow it with GATEWAY_MEDIA_ALLOWED_NETWORKS)", errRefusedAddress, host)
	}
	return nil
}

// sourceError is a file source the gateway cannot use: the client's doing.
func sourceError(format string, args ...any) error {
	return model.Errorf(model.ErrBadParam, format, args...)
}

// Resolve stores the file a source names and returns it: an http(s) URL (fetched), a file://
// path inside LocalDir, base64://… (standard or URL-safe alphabet), a data: URL, or a file id
// the store knows. name is used when the source has none.
func (m *Media) Resolve(ctx context.Context, src, name string) (model.FileInfo, error) {
	files := m.opts.Files
	src = strings.TrimSpace(src)
	scheme, rest, _ := strings.Cut(src, ":")
	switch strings.ToLower(scheme) {
	case "http", "https":
		if fileID, ok := m.ownLink(src); ok {
			return files.Stat(ctx, fileID)
		}
		return m.Fetch(ctx, src, name, nil)
	case "file":
		return m.readLocal(ctx, src, name)
	case "base64":
		return m.Put(ctx, name, "", Base64Reader(strings.TrimPrefix(rest, "//")))
	case "data":
		mimeType, r, err := dataURLReader(src)
		if err != nil {
			return model.FileInfo{}, sourceError("%v", err)
		}
		return m.Put(ctx, name, mimeType, r)
	}
	if src == "" {
		return model.FileInfo{}, sourceError("no file given")
	}
	info, err := files.Stat(ctx, src)
	if model.KindOf(err) == model.ErrNotFound {
		return model.FileInfo{}, sourceError("file %q is not an http(s) URL, file:// path, base64://, data: URL or known file id", truncate(src, 64))
	}
	return info, err
}

// ownLink tells whether src is one of the store's own signed links (…/media/{id}?exp&sig, as
// Files.URL makes them, unexpired and signed with its key): such a file is taken as it is, not
// fetched from the gateway itself.
func (m *Media) ownLink(src string) (string, bool) {
	u, err := url.Parse(src)
	if err != nil {
		return "", false
	}
	dir, fileID := path.Split(u.Path)
	q := u.Query()
	if !strings.HasSuffix(dir, "/media/") || fileID == "" || q.Get("sig") == "" {
		return "", false
	}
	return fileID, m.opts.Files.CheckURL(fileID, q.Get("exp"), q.Get("sig"), time.Now()) == nil
}

// Files is the store files are taken into; nil when media is not configured (a nil Media
// included).
func (m *Media) Files() model.Files {
	if m == nil {
		return nil
	}
	return m.opts.Files
}

// Put stores what r yields as a file named name.
func (m *Media) Put(ctx context.Context, name, mimeType string, r io.Reader) (model.FileInfo, error) {
	return m.opts.Files.Put(ctx, name, mimeType, r)
}

// Fetch downloads an http(s) URL into the store, sending headers with the request.
func (m *Media) Fetch(ctx context.Context, rawURL, name string, headers map[string]string) (model.FileInfo, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return model.FileInfo{}, sourceError("%q is not a valid URL", truncate(rawURL, 128))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return model.FileInfo{}, sourceError("%q is not a valid URL", truncate(rawURL, 128))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", userAgent)
	// Errors name the URL without its password and query (safeURL): they are logged, and a
	// signed link or a file server's token is often in the query.
	shown := redact.URL(u.String())
	resp, err := m.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its text repeats the URL, or a redirect's, with the query
		}
		if errors.Is(err, errRefusedAddress) {
			return model.FileInfo{}, sourceError("refusing to fetch %s: %v", shown, err)
		}
		return model.FileInfo{}, &model.ActionError{Kind: model.ErrNetwork, Message: "failed to fetch " + shown, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return model.FileInfo{}, &model.ActionError{Kind: model.ErrNetwork, Message: fmt.Sprintf("failed to fetch %s: HTTP %d", shown, resp.StatusCode)}
	}
	if resp.ContentLength > m.opts.Files.MaxSize() {
		return model.FileInfo{}, &model.ActionError{Kind: model.ErrBadParam, Message: fmt.Sprintf("%s is %d bytes, more than %d", shown, resp.ContentLength, m.opts.Files.MaxSize()), Err: model.ErrTooLarge}
	}
	if name == "" {
		if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
			name = path.Base(params["filename"])
		} else if b := path.Base(resp.Request.URL.Path); b != "/" && b != "." {
			name = b
		}
	}
	mimeType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return m.Put(ctx, name, mimeType, resp.Body)
}

// readLocal reads a file:// path, only a regular file inside LocalDir.
func (m *Media) readLocal(ctx context.Context, src, name string) (model.FileInfo, error) {
	if m.opts.LocalDir == "" {
		return model.FileInfo{}, sourceError("file:// sources are refused: set GATEWAY_MEDIA_LOCAL_DIR to allow a folder")
	}
	u, err := url.Parse(src)
	if err != nil || u.Path == "" || (u.Host != "" && u.Host != "localhost") {
		return model.FileInfo{}, sourceError("%q is not a file:///path URL", truncate(src, 128))
	}
	return m.ReadLocalPath(ctx, u.Path, name)
}

// ReadLocalPath stores the regular file at the absolute path p inside LocalDir.
func (m *Media) ReadLocalPath(ctx context.Context, p, name string) (model.FileInfo, error) {
	if m.opts.LocalDir == "" {
		return model.FileInfo{}, sourceError("local paths are refused: set GATEWAY_MEDIA_LOCAL_DIR to allow a folder")
	}
	f, err := m.openLocal(p)
	if err != nil {
		return model.FileInfo{}, err
	}
	defer f.Close()
	if name == "" {
		name = filepath.Base(p)
	}
	return m.Put(ctx, name, "", f)
}

// notLocalFile is the one answer for a path outside LocalDir, missing, or not a regular file:
// whether a file exists outside the folder is none of the client's business.
func notLocalFile(p string) error {
	return sourceError("cannot read %s: it is not a regular file inside GATEWAY_MEDIA_LOCAL_DIR", p)
}

// openLocal opens a regular file inside LocalDir. os.Root keeps the lookup inside the folder,
// symbolic links and ".." included; the file is checked by stat before it is opened and opened
// non-blocking, so that a FIFO or a device is refused instead of hanging the request.
func (m *Media) openLocal(p string) (*os.File, error) {
	if !filepath.IsAbs(p) {
		return nil, sourceError("%s is not an absolute path", p)
	}
	rel, ok := localRel(m.opts.LocalDir, filepath.Clean(p))
	if !ok {
		return nil, notLocalFile(p)
	}
	root, err := os.OpenRoot(m.opts.LocalDir)
	if err != nil {
		return nil, fmt.Errorf("failed to open GATEWAY_MEDIA_LOCAL_DIR: %w", err)
	}
	defer root.Close()
	if st, err := root.Stat(rel); err != nil || !st.Mode().IsRegular() {
		return nil, notLocalFile(p)
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, notLocalFile(p)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() { // replaced since the stat
		f.Close()
		return nil, notLocalFile(p)
	}
	return f, nil
}

// localRel gives p relative to dir, named as configured or with its symbolic links resolved;
// ok is false when p is outside both.
func localRel(dir, p string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	bases := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		bases = append(bases, real)
	}
	for _, base := range bases {
		rel, err := filepath.Rel(base, p)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return rel, true
		}
	}
	return "", false
}

// DecodeBase64 accepts the standard and the URL-safe alphabet, padded or not, with line breaks.
func DecodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	return enc.DecodeString(strings.TrimRight(s, "="))
}

// parseDataURL reads data:[<mediatype>][;base64],<data> (RFC 2397).
func parseDataURL(s string) (string, []byte, error) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		rest, ok = strings.CutPrefix(s, "DATA:")
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !ok || !found {
		return "", nil, errors.New("a data: URL needs data:[<mediatype>][;base64],<data>")
	}
	isBase64 := false
	if m, cut := strings.CutSuffix(meta, ";base64"); cut {
		meta, isBase64 = m, true
	}
	mimeType := ""
	if meta != "" {
		mt, _, err := mime.ParseMediaType(meta)
		if err != nil {
			return "", nil, fmt.Errorf("data: URL has a malformed media type: %v", err)
		}
		mimeType = mt
	}
	if isBase64 {
		data, err := DecodeBase64(payload)
		if err != nil {
			return "", nil, fmt.Errorf("data: URL is not base64: %v", err)
		}
		return mimeType, data, nil
	}
	data, err := url.PathUnescape(payload)
	if err != nil {
		return "", nil, fmt.Errorf("data: URL has malformed percent-encoding: %v", err)
	}
	return mimeType, []byte(data), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ResolveSources stores the files that media segments from a client name (model.Media.Source)
// and replaces each source by the stored file's id; a nil Media refuses such segments.
func (m *Media) ResolveSources(ctx context.Context, segs []model.Segment) error {
	for i, s := range segs {
		media, ok := s.(model.Media)
		if !ok || media.Source == "" {
			continue
		}
		if m == nil {
			return model.Errorf(model.ErrUnsupportedSegment, "segment %d: media is not configured", i)
		}
		info, err := m.Resolve(ctx, media.Source, media.File.Name)
		if err != nil {
			var ae *model.ActionError
			if errors.As(err, &ae) && ae.Kind == model.ErrBadParam {
				return &model.ActionError{Kind: model.ErrBadSegmentData, Message: fmt.Sprintf("segment %d (%s): %s", i, media.Kind, ae.Message), Err: ae.Err}
			}
			return err
		}
		segs[i] = model.Media{Kind: media.Kind, File: model.FileInfo{ID: info.ID}}
	}
	return nil
}

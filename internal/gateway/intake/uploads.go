package intake

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/matrix-onebot/gateway/internal/face"
	"github.com/matrix-onebot/gateway/internal/model"
)

// Fragmented uploads (upload_file_fragmented). prepare reserves total_size against the caller's
// quota and the gateway's cap and stages the file; transfer writes a part at an offset and
// records the range written; finish stores the file only when every byte of total_size was
// written and its sha256 matches (when given). An upload left without a call for the TTL is
// dropped: its staging file removed and its reservation freed.

const (
	defaultUploadTTL    = 5 * time.Minute
	maxUploadsPerClient = face.MaxUploadFiles // unfinished uploads one client may hold (4)
	maxUploads          = 32                  // unfinished uploads in all
	clientUploadSizes   = 2                   // one client may reserve this many times GATEWAY_MEDIA_MAX_SIZE
	totalUploadSizes    = 4                   // all clients together, this many times GATEWAY_MEDIA_MAX_SIZE
	maxUploadRanges     = 4096
)

type uploads struct {
	mu       sync.Mutex
	pending  map[string]*pendingUpload
	reserved int64 // bytes reserved by the pending uploads and the one-shot ones
	// oneShot are the uploads in one call under way (ReserveUpload), by client: they count
	// against the same quotas as the pending ones.
	oneShot      map[string]heldUploads
	oneShotCount int
}

// heldUploads is how many uploads one client holds, and how many bytes they reserve.
type heldUploads struct {
	count int
	bytes int64
}

// admitLocked checks that client may reserve one more upload of size bytes (u.mu is held):
// at most maxUploadsPerClient uploads and clientUploadSizes times maxSize bytes per client, and
// maxUploads and totalUploadSizes times maxSize in all.
func (u *uploads) admitLocked(client string, size, maxSize int64, ttl time.Duration) error {
	h := u.oneShot[client]
	for _, p := range u.pending {
		if p.client == client {
			h.count++
			h.bytes += p.size
		}
	}
	if h.count >= maxUploadsPerClient || h.bytes+size > clientUploadSizes*maxSize {
		return model.Errorf(model.ErrRateLimited, "this client has %d unfinished uploads (%d bytes): finish them, or wait %s for them to expire (GATEWAY_MEDIA_UPLOAD_TTL)", h.count, h.bytes, ttl)
	}
	if len(u.pending)+u.oneShotCount >= maxUploads || u.reserved+size > totalUploadSizes*maxSize {
		return model.Errorf(model.ErrRateLimited, "the gateway has too many unfinished uploads; try again later")
	}
	return nil
}

// ReserveUpload holds size bytes (at most GATEWAY_MEDIA_MAX_SIZE are counted: a larger file is
// refused when it is stored) of client's upload quota for an upload made in one call (Satori's
// upload.create), until release is called: the quota of the fragmented uploads, which such an
// upload counts against as one unfinished upload while it is stored.
func (m *Media) ReserveUpload(client string, size int64) (release func(), err error) {
	maxSize := m.opts.Files.MaxSize()
	size = min(max(size, 0), maxSize)
	u := &m.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.admitLocked(client, size, maxSize, m.uploadTTL()); err != nil {
		return nil, err
	}
	if u.oneShot == nil {
		u.oneShot = map[string]heldUploads{}
	}
	h := u.oneShot[client]
	u.oneShot[client] = heldUploads{count: h.count + 1, bytes: h.bytes + size}
	u.oneShotCount++
	u.reserved += size
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			h := u.oneShot[client]
			if h.count <= 1 {
				delete(u.oneShot, client)
			} else {
				u.oneShot[client] = heldUploads{count: h.count - 1, bytes: h.bytes - size}
			}
			u.oneShotCount--
			u.reserved -= size
		})
	}, nil
}

type pendingUpload struct {
	id, client, name string
	size             int64

	mu       sync.Mutex // held while writing, checking or claiming
	file     *os.File
	unlinked bool // the file has no name: its bytes go when it is closed
	written  byteRanges
	touched  time.Time
	timer    *time.Timer
	gone     bool // expired or claimed by finish: whoever sets it owns the file
}

// discard closes (and, if it still has a name, removes) the staging file; the caller has set
// gone.
func (p *pendingUpload) discard() {
	p.file.Close()
	if !p.unlinked {
		os.Remove(p.file.Name())
	}
}

func (m *Media) uploadTTL() time.Duration {
	if m.opts.UploadTTL > 0 {
		return m.opts.UploadTTL
	}
	return defaultUploadTTL
}

// PrepareUpload reserves size bytes for client (the caller's name for per-client quotas) and
// stages an empty file; it gives the upload's id. A size above the cap wraps model.ErrTooLarge.
func (m *Media) PrepareUpload(client, name string, size int64) (string, error) {
	maxSize := m.opts.Files.MaxSize()
	if name == "" || size <= 0 {
		return "", model.Errorf(model.ErrBadParam, "name and total_size (greater than 0) are required")
	}
	if size > maxSize {
		return "", fmt.Errorf("total_size %d is more than %d: %w", size, maxSize, model.ErrTooLarge)
	}
	u := &m.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.admitLocked(client, size, maxSize, m.uploadTTL()); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(m.opts.UploadDir, ".fragments-*")
	if err != nil {
		return "", fmt.Errorf("failed to stage the upload: %w", err)
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p := &pendingUpload{id: "u" + hex.EncodeToString(b), client: client, name: name, size: size, file: f, touched: time.Now()}
	// The bytes are reached through f only: without a name, they are gone from the disk when f
	// is closed, also when the gateway is killed or crashes (POSIX; elsewhere discard removes
	// the file).
	p.unlinked = os.Remove(f.Name()) == nil
	if u.pending == nil {
		u.pending = map[string]*pendingUpload{}
	}
	u.pending[p.id] = p
	u.reserved += size
	p.mu.Lock() // the timer may fire before this assignment is done
	p.timer = time.AfterFunc(m.uploadTTL(), func() { m.expireUpload(p) })
	p.mu.Unlock()
	return p.id, nil
}

// expireUpload drops p unless it was used within the TTL (then it looks again later).
func (m *Media) expireUpload(p *pendingUpload) {
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return
	}
	if idle := time.Since(p.touched); idle < m.uploadTTL() {
		p.timer.Reset(m.uploadTTL() - idle)
		p.mu.Unlock()
		return
	}
	p.gone = true
	p.mu.Unlock()
	m.releaseUpload(p)
	p.discard()
}

// PruneUploads drops the fragmented uploads left without a call for longer than the TTL as of
// now and says how many; the retention pruner calls it. Each upload's own timer does the same,
// so this is a second line.
func (m *Media) PruneUploads(now time.Time) int {
	u := &m.uploads
	u.mu.Lock()
	all := make([]*pendingUpload, 0, len(u.pending))
	for _, p := range u.pending {
		all = append(all, p)
	}
	u.mu.Unlock()
	n := 0
	for _, p := range all {
		p.mu.Lock()
		stale := !p.gone && now.Sub(p.touched) > m.uploadTTL()
		if stale {
			p.gone = true
			p.timer.Stop()
		}
		p.mu.Unlock()
		if stale {
			m.releaseUpload(p)
			p.discard()
			n++
		}
	}
	return n
}

// releaseUpload forgets p and frees its reservation.
func (m *Media) releaseUpload(p *pendingUpload) {
	u := &m.uploads
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending[p.id] == p {
		delete(u.pending, p.id)
		u.reserved -= p.size
	}
}

// lockUpload finds an upload in progress and locks it; the caller unlocks.
func (m *Media) lockUpload(id string) (*pendingUpload, error) {
	u := &m.uploads
	u.mu.Lock()
	p := u.pending[id]
	u.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		if !p.gone {
			return p, nil
		}
		p.mu.Unlock()
	}
	return nil, model.Errorf(model.ErrNotFound, "no upload %q in progress: it was finished, or dropped after GATEWAY_MEDIA_UPLOAD_TTL (%s) without a transfer", truncate(id, 40), m.uploadTTL())
}

// TransferUpload writes data at offset of the upload id.
func (m *Media) TransferUpload(id string, offset int64, data []byte) error {
	p, err := m.lockUpload(id)
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	end := offset + int64(len(data))
	if offset < 0 || int64(len(data)) > p.size || offset > p.size-int64(len(data)) {
		return model.Errorf(model.ErrBadParam, "offset %d + %d bytes is outside total_size %d", offset, len(data), p.size)
	}
	if !p.written.add(offset, end, maxUploadRanges) {
		return model.Errorf(model.ErrBadParam, "more than %d separate parts: send adjacent parts", maxUploadRanges)
	}
	if _, err := p.file.WriteAt(data, offset); err != nil {
		return fmt.Errorf("failed to stage the upload: %w", err)
	}
	p.touched = time.Now()
	return nil
}

// FinishUpload stores the upload once it is whole (and matches sha256, when given). A refused
// finish leaves the upload in progress, so that the client can send what is missing. A store
// that refuses the size wraps model.ErrTooLarge.
func (m *Media) FinishUpload(ctx context.Context, id, wantSHA256 string) (model.FileInfo, error) {
	p, err := m.lockUpload(id)
	if err != nil {
		return model.FileInfo{}, err
	}
	p.touched = time.Now()
	if lo, hi, ok := p.written.gap(p.size); ok {
		p.mu.Unlock()
		return model.FileInfo{}, model.Errorf(model.ErrBadParam, "bytes %d to %d of %d were never transferred: send them, then finish again", lo, hi-1, p.size)
	}
	if wantSHA256 != "" {
		h := sha256.New()
		if _, err := io.Copy(h, io.NewSectionReader(p.file, 0, p.size)); err != nil {
			p.mu.Unlock()
			return model.FileInfo{}, fmt.Errorf("failed to read the staged upload: %w", err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, wantSHA256) {
			p.mu.Unlock()
			return model.FileInfo{}, model.Errorf(model.ErrBadParam, "sha256 does not match the uploaded bytes (got %s): send the parts again, then finish again", got)
		}
	}
	p.gone = true
	p.timer.Stop()
	p.mu.Unlock()
	m.releaseUpload(p)
	defer p.discard()
	return m.Put(ctx, p.name, "", io.NewSectionReader(p.file, 0, p.size))
}

// byteRanges is a sorted list of disjoint, non-adjacent [lo, hi) ranges.
type byteRanges []byteRange

type byteRange struct{ lo, hi int64 }

// add records [lo, hi), merging what it overlaps or touches; it refuses (false) to hold more
// than limit ranges.
func (r *byteRanges) add(lo, hi int64, limit int) bool {
	if lo >= hi {
		return true
	}
	s := *r
	// i: the first range that ends at or after lo; j: the first that starts after hi.
	i, _ := slices.BinarySearchFunc(s, lo, func(b byteRange, v int64) int { return cmp.Compare(b.hi, v) })
	j, _ := slices.BinarySearchFunc(s, hi+1, func(b byteRange, v int64) int { return cmp.Compare(b.lo, v) })
	if i < j {
		lo, hi = min(lo, s[i].lo), max(hi, s[j-1].hi)
	} else if len(s) >= limit {
		return false
	}
	*r = slices.Replace(s, i, j, byteRange{lo, hi})
	return true
}

// gap returns the first range of [0, size) not recorded.
func (r byteRanges) gap(size int64) (lo, hi int64, ok bool) {
	var at int64
	for _, b := range r {
		if b.lo > at {
			return at, b.lo, true
		}
		at = b.hi
	}
	if at < size {
		return at, size, true
	}
	return 0, 0, false
}

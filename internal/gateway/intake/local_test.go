//go:build unix

package intake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/matrix-onebot/gateway/internal/model"
)

// A FIFO (or any file that is not regular) inside GATEWAY_MEDIA_LOCAL_DIR is refused at once:
// opening it for reading would wait for a writer and hang the request.
func TestLocalFIFOIsRefusedWithoutHanging(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	_ = os.Symlink(fifo, filepath.Join(dir, "pipe-link"))
	m := New(Options{Files: newTestFiles(t, 1<<20, nil), LocalDir: dir})
	for _, src := range []string{"file://" + fifo, "file://" + filepath.Join(dir, "pipe-link")} {
		done := make(chan error, 1)
		go func() {
			_, err := m.Resolve(context.Background(), src, "")
			done <- err
		}()
		select {
		case err := <-done:
			if model.KindOf(err) != model.ErrBadParam {
				t.Fatalf("%s: got %v, want refused", src, err)
			}
		case <-time.After(10 * time.Second):
			// Unblock the open so the goroutine ends, then fail.
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s: the request hangs on a FIFO", src)
		}
	}
}

// Outside the folder, a path that exists and one that does not get the same answer, and so do
// a missing file and a folder or FIFO inside it: a client cannot probe the host's files. Symbolic
// links are followed only while they stay inside.
func TestLocalPathsOutsideGetOneAnswer(t *testing.T) {
	root := t.TempDir()
	allowed := filepath.Join(root, "assets")
	_ = os.Mkdir(allowed, 0o755)
	_ = os.Mkdir(filepath.Join(allowed, "sub"), 0o755)
	_ = os.WriteFile(filepath.Join(allowed, "sub", "ok.txt"), []byte("inside"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "secret.txt"), []byte("outside"), 0o644)
	_ = os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(allowed, "to-secret"))
	_ = os.Symlink(filepath.Join(root, "missing.txt"), filepath.Join(allowed, "to-missing"))
	_ = os.Symlink("../secret.txt", filepath.Join(allowed, "rel-secret"))
	_ = os.Symlink("sub/ok.txt", filepath.Join(allowed, "inner-link"))
	_ = os.Symlink(root, filepath.Join(allowed, "to-root"))
	_ = syscall.Mkfifo(filepath.Join(allowed, "pipe"), 0o600)
	files := newTestFiles(t, 1<<20, nil)
	m := New(Options{Files: files, LocalDir: allowed})

	// Inside, directly or through a link that stays inside.
	for _, p := range []string{filepath.Join(allowed, "sub", "ok.txt"), filepath.Join(allowed, "inner-link"), allowed + "/sub/../sub/ok.txt"} {
		info, err := m.Resolve(context.Background(), "file://"+p, "")
		if err != nil || string(fileBytes(t, files, info.ID)) != "inside" {
			t.Fatalf("%s: %+v %v", p, info, err)
		}
	}
	info, err := m.ReadLocalPath(context.Background(), filepath.Join(allowed, "sub", "ok.txt"), "")
	if err != nil || info.Name != "ok.txt" {
		t.Fatalf("upload_file type path: %+v %v", info, err)
	}

	var answers []string
	for _, p := range []string{
		filepath.Join(root, "secret.txt"),  // outside, exists
		filepath.Join(root, "missing.txt"), // outside, missing
		"/etc/passwd",
		"/no/such/dir/file",
		allowed + "/../secret.txt",
		allowed + "/../missing.txt",
		filepath.Join(allowed, "to-secret"),  // link out to a file
		filepath.Join(allowed, "to-missing"), // link out to nothing
		filepath.Join(allowed, "rel-secret"),
		filepath.Join(allowed, "to-root", "secret.txt"),
		filepath.Join(allowed, "to-root", "missing.txt"),
		filepath.Join(allowed, "missing.txt"), // inside, missing
		filepath.Join(allowed, "sub"),         // a folder
		filepath.Join(allowed, "pipe"),        // a FIFO
		allowed,
	} {
		_, err := m.Resolve(context.Background(), "file://"+p, "")
		if model.KindOf(err) != model.ErrBadParam {
			t.Fatalf("%s: got %v, want refused", p, err)
		}
		answers = append(answers, strings.ReplaceAll(err.Error(), p, "<path>"))
		_, err = m.ReadLocalPath(context.Background(), p, "")
		if model.KindOf(err) != model.ErrBadParam {
			t.Fatalf("type path %s: got %v, want refused", p, err)
		}
		answers = append(answers, strings.ReplaceAll(err.Error(), p, "<path>"))
	}
	for i, a := range answers {
		if a != answers[0] {
			t.Fatalf("answer %d differs:\n  %s\nfrom\n  %s", i, a, answers[0])
		}
	}
}

package harness

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// SmallDisk is a small tmpfs a test mounts for a database, fills to run it out of space, and
// frees again. Mounting needs root (or CAP_SYS_ADMIN): without it the test is skipped, saying so.
type SmallDisk struct {
	Dir    string
	t      testing.TB
	filler string
}

// MountSmallDisk mounts a tmpfs of size bytes on a new directory, unmounted at the end of the test.
func MountSmallDisk(t testing.TB, size int64) *SmallDisk {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small-disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root or CAP_SYS_ADMIN): %v", err)
	}
	d := &SmallDisk{Dir: dir, t: t, filler: filepath.Join(dir, "filler")}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return d
}

// Fill writes a filler file until the disk has no byte left.
func (d *SmallDisk) Fill() {
	d.t.Helper()
	f, err := os.OpenFile(d.filler, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []int{1 << 16, 1 << 12, 1} {
		buf := make([]byte, chunk)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					d.t.Fatalf("fill %s: %v", d.Dir, err)
				}
				break
			}
		}
	}
}

// FillLeaving fills the disk but for about n bytes (rounded to the disk's pages), e.g. room to
// open a database but not to write to it.
func (d *SmallDisk) FillLeaving(n int64) {
	d.t.Helper()
	d.Fill()
	info, err := os.Stat(d.filler)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.Truncate(d.filler, max(info.Size()-n, 0)); err != nil {
		d.t.Fatal(err)
	}
}

// Free removes the filler: the disk has room again.
func (d *SmallDisk) Free() {
	d.t.Helper()
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatalf("free %s: %v", d.Dir, err)
	}
}

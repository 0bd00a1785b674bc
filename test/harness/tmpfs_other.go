//go:build !linux

package harness

import "testing"

// SmallDisk is a small tmpfs a test fills; only on Linux.
type SmallDisk struct{ Dir string }

// MountSmallDisk skips the test: tmpfs mounts are Linux-only.
func MountSmallDisk(t testing.TB, size int64) *SmallDisk {
	t.Skip("a small tmpfs to fill needs Linux")
	return nil
}

// Fill is not reached.
func (d *SmallDisk) Fill() {}

// FillLeaving is not reached.
func (d *SmallDisk) FillLeaving(n int64) {}

// Free is not reached.
func (d *SmallDisk) Free() {}

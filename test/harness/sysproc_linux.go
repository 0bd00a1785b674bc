package harness

import "syscall"

// childSysProcAttr puts the child in its own process group and has the kernel
// kill it if the test binary dies without stopping it.
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

//go:build linux

package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel SIGKILL the controller if the test process
// itself dies (a -timeout panic, a ^C): no controller outlives its test.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

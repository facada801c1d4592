//go:build unix

package host

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup keeps terminal and service-manager signals sent to the
// agent's process group (Ctrl-C, `timeout`) away from plugins: the agent
// ends them itself, after its in-flight runs.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

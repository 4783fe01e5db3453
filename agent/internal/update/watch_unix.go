//go:build !windows

package update

import (
	"os"
	"os/exec"
	"syscall"
)

// startWatchdog runs the watchdog outside the agent's process group: a
// transient systemd unit when systemd manages us (a service restart kills
// everything in the unit's cgroup), else a new session.
func startWatchdog(exe string, args []string) error {
	if os.Getenv("INVOCATION_ID") != "" { // set by systemd for its services
		if p, err := exec.LookPath("systemd-run"); err == nil {
			return exec.Command(p, append([]string{"--unit=wirefleet-agent-update-watch", "--collect", "--quiet", exe}, args...)...).Run()
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	if err := cmd.Start(); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func stopProcess(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
}

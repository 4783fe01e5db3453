package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// restartServer stops the server process pid with SIGTERM, waits for it to
// exit, and starts it again with the same command line and working
// directory (read from /proc), its output going to logPath. It returns the
// new process's pid.
func restartServer(pid int, logPath, binary string) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's command line: %w", err)
	}
	args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return 0, fmt.Errorf("read the server's directory: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("stop the server: %w", err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the server did not exit within 60 s of SIGTERM")
		}
	}
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	if binary != "" {
		args[0] = binary // the upgrade
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the simulator
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the server again: %w", err)
	}
	go cmd.Wait()
	return cmd.Process.Pid, nil
}

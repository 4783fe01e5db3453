package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/update"
)

// ExitForUpdate is the agent's exit code after swapping in a new binary:
// the supervisor starts it again at once.
const ExitForUpdate = update.ExitForUpdate

// Supervisor restarts the agent whenever it exits, for init systems that
// do not (SysV init, BusyBox rcS, containers): without one, the exit after
// a self-update would leave the machine without an agent.
type Supervisor struct {
	Exe  string   // the agent binary, started afresh each time (so after an update it is the new one)
	Args []string // its arguments, normally run and --state-dir
	Log  *slog.Logger
	// StopTimeout is how long a stopping agent gets before it is killed.
	StopTimeout time.Duration
	// MaxDelay caps the pause between restarts of an agent that keeps
	// failing (default 30 s); Stable is how long a run must last for the
	// pause to start again from 1 s (default 1 min).
	MaxDelay, Stable time.Duration
}

// Run supervises until ctx ends, then stops the agent (SIGTERM, killed
// after StopTimeout) and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	maxDelay, stable, stop := s.MaxDelay, s.Stable, s.StopTimeout
	if maxDelay <= 0 {
		maxDelay = 30 * time.Second
	}
	if stable <= 0 {
		stable = time.Minute
	}
	if stop <= 0 {
		stop = 20 * time.Second
	}
	delay := time.Second
	for ctx.Err() == nil {
		cmd := exec.CommandContext(ctx, s.Exe, s.Args...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
		cmd.Cancel = func() error {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				return cmd.Process.Kill() // Windows has no SIGTERM
			}
			return nil
		}
		cmd.WaitDelay = stop
		began := time.Now()
		err := cmd.Run()
		if ctx.Err() != nil {
			return nil
		}
		code := -1
		var ee *exec.ExitError
		switch {
		case err == nil:
			code = 0
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default: // could not start at all (binary missing mid-swap?): retry
			s.Log.Error("cannot start the agent", "exe", s.Exe, "err", err)
		}
		if time.Since(began) >= stable {
			delay = time.Second
		}
		wait := delay
		if code == ExitForUpdate {
			s.Log.Info("the agent exited to start its updated binary; starting it")
			wait = 200 * time.Millisecond
		} else {
			s.Log.Warn("the agent exited; starting it again", "code", code, "after", wait)
			delay = min(2*delay, maxDelay)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return nil
}

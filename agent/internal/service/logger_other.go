//go:build !windows

package service

import (
	"log/slog"

	"github.com/kardianos/service"
)

// SystemLogger returns base: systemd's journal and launchd's log already
// capture the agent's standard error.
func SystemLogger(s service.Service, base *slog.Logger) *slog.Logger { return base }

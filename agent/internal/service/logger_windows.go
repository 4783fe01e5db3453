package service

import (
	"log/slog"

	"github.com/kardianos/service"
)

// SystemLogger returns base, also writing to the Windows Event Log when the
// agent runs under the Service Control Manager (there is no console there).
func SystemLogger(s service.Service, base *slog.Logger) *slog.Logger {
	if service.Interactive() {
		return base
	}
	sys, err := s.SystemLogger(nil)
	if err != nil {
		return base
	}
	return slog.New(&eventHandler{next: base.Handler(), sys: sys})
}

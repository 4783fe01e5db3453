package service

import (
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// SetRecovery makes the Service Control Manager restart the agent after
// any failure — three restarts 5 s apart, counter reset daily — and also
// when it stops with an error exit code rather than crashing, which
// kardianos/service does not set.
func SetRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return err
	}
	defer s.Close()
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
	}
	if err := s.SetRecoveryActions(actions, 86400); err != nil {
		return err
	}
	return s.SetRecoveryActionsOnNonCrashFailures(true)
}

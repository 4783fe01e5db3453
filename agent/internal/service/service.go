// Package service installs and runs the agent as a system service through
// github.com/kardianos/service: a systemd unit that always restarts after
// 5 s (the library's template hard-codes 120 s), a launchd daemon with
// KeepAlive and RunAtLoad, and a Windows service whose recovery actions
// restart it, including after non-crash failures (recovery_windows.go).
package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/kardianos/service"
)

// Name is the service name on every OS.
const Name = "wirefleet-agent"

// systemdScript is kardianos/service's template with a short RestartSec,
// no start limit (a machine service must come back), and ordering after the
// network is up.
const systemdScript = `[Unit]
Description={{Description}}
ConditionFileIsExecutable={{Path | cmdEscape}}
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=0

[Service]
ExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}
Restart=always
RestartSec=5
KillMode=mixed
EnvironmentFile=-/etc/sysconfig/{{Name}}
{{range EnvVars}}{{.}}
{{end}}
[Install]
WantedBy=multi-user.target
`

// Config returns the service definition; args are what the service runs
// (normally ["run"], plus --state-dir when overridden).
func Config(args []string) *service.Config {
	return &service.Config{
		Name:        Name,
		DisplayName: "Wirefleet agent",
		Description: "Wirefleet agent: keeps this machine in the fleet's private WireGuard network.",
		Arguments:   args,
		Option: service.KeyValue{
			"SystemdScript":          systemdScript,
			"KeepAlive":              true,
			"RunAtLoad":              true,
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "5s",
			"OnFailureResetPeriod":   86400,
			"StartType":              "automatic",
		},
	}
}

type program struct {
	run    func(context.Context) error
	cancel context.CancelFunc
	done   chan struct{}
	log    *slog.Logger
}

func (p *program) Start(s service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		if err := p.run(ctx); err != nil {
			// Exit non-zero so the service manager restarts us after its
			// delay, rather than leaving a live process that does nothing.
			p.log.Error("agent stopped", "err", err)
			os.Exit(1)
		}
	}()
	return nil
}

func (p *program) Stop(s service.Service) error {
	p.cancel()
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
	}
	return nil
}

// New returns the service handle for args; run is what `run` executes
// under the service manager (or in the foreground).
func New(args []string, run func(context.Context) error, log *slog.Logger) (service.Service, error) {
	s, err := service.New(&program{run: run, log: log}, Config(args))
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return s, nil
}

// Install installs the service, sets its recovery options and starts it.
func Install(s service.Service) error {
	if err := s.Install(); err != nil {
		return fmt.Errorf("service: install: %w", err)
	}
	if err := SetRecovery(Name); err != nil {
		return fmt.Errorf("service: recovery actions: %w", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("service: start: %w", err)
	}
	return nil
}

// Uninstall stops and removes the service.
func Uninstall(s service.Service) error {
	_ = s.Stop()
	if err := s.Uninstall(); err != nil {
		return fmt.Errorf("service: uninstall: %w", err)
	}
	return nil
}

// Package service installs and runs the agent as a system service through
// github.com/kardianos/service, and makes sure that whatever manages it
// starts it again after it exits (a self-update ends with an exit): a
// systemd unit that always restarts after 5 s (the library's template
// hard-codes 120 s), a launchd daemon with KeepAlive and RunAtLoad, a
// Windows service whose recovery actions restart it, including after
// non-crash failures (recovery_windows.go), OpenRC's supervise-daemon
// without a respawn limit, and on SysV init and BusyBox rcS, which restart
// nothing, an init script that runs the agent under Supervisor.
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

// initScript is the SysV (and BusyBox rcS) init script. Those init systems
// never restart a service, so the script runs the agent under its own
// supervisor (`wirefleet-agent supervise`), which starts it again after it
// exits — after every self-update, and after a crash.
const initScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          wirefleet-agent
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{DisplayName}}
# Description:       {{Description}}
### END INIT INFO

# The agent runs under "wirefleet-agent supervise", which restarts it
# whenever it exits (SysV init does not).
start_agent() {
	exec {{Path | cmd}} supervise --{{range Arguments}} {{. | cmd}}{{end}}
}
name=wirefleet-agent
pid_file="/var/run/$name.pid"
stdout_log="{{LogDirectory}}/$name.log"
stderr_log="{{LogDirectory}}/$name.err"

is_running() {
	[ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

case "$1" in
start)
	if is_running; then
		echo "Running already"
		exit 0
	fi
	echo "Starting $name"
	start_agent >>"$stdout_log" 2>>"$stderr_log" </dev/null &
	echo $! >"$pid_file"
	sleep 0.2 2>/dev/null || sleep 1
	is_running || { echo "Unable to start; see $stderr_log"; exit 1; }
	;;
stop)
	if ! is_running; then
		echo "Not running"
		exit 0
	fi
	printf 'Stopping %s' "$name"
	kill "$(cat "$pid_file")"
	i=0
	while is_running && [ $i -lt 25 ]; do
		printf .
		sleep 1
		i=$((i + 1))
	done
	echo
	if is_running; then
		echo "Not stopped after 25 s"
		exit 1
	fi
	rm -f "$pid_file"
	;;
restart)
	"$0" stop && "$0" start
	;;
status)
	if is_running; then
		echo "Running"
	else
		echo "Stopped"
		exit 1
	fi
	;;
*)
	echo "Usage: $0 {start|stop|restart|status}"
	exit 1
	;;
esac
exit 0
`

// openRCScript runs the agent under OpenRC's supervise-daemon, which
// restarts it (after 5 s, without giving up: kardianos/service's template
// stops respawning after 10 exits, i.e. after 10 self-updates).
const openRCScript = `#!/sbin/openrc-run
supervisor=supervise-daemon
name="{{DisplayName}}"
description="{{Description}}"
command={{Path | cmdEscape}}
command_args="{{range Arguments}}{{. | cmd}} {{end}}"
respawn_delay=5
respawn_max=0
supervise_daemon_args="--stdout {{LogDirectory}}/wirefleet-agent.log --stderr {{LogDirectory}}/wirefleet-agent.err"

depend() {
	need net
}
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
			"SysvScript":             initScript,
			"RCSScript":              initScript,
			"OpenRCScript":           openRCScript,
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

// Describe says, for people, which service manager runs the agent and
// what starts it again after it exits (as it does after a self-update).
func Describe(s service.Service) string {
	switch p := s.Platform(); p {
	case "linux-systemd":
		return "a systemd unit (" + Name + ".service), restarted 5 s after any exit"
	case "unix-systemv", "linux-rcs":
		return "a SysV init script (/etc/init.d/" + Name + ") running the agent under `" + Name + " supervise`, which restarts it after any exit (SysV init restarts nothing)"
	case "linux-openrc":
		return "an OpenRC service under supervise-daemon, restarted 5 s after any exit"
	case "linux-upstart":
		return "an Upstart job, respawned after it exits"
	case "linux-procd":
		return "a procd service, respawned after it exits (procd gives up after 5 failures within an hour)"
	case "darwin-launchd":
		return "a launchd daemon (KeepAlive), restarted after any exit"
	case "windows-service":
		return "a Windows service whose recovery actions restart it after any exit"
	default:
		return "a " + p + " service; check that it restarts the agent after it exits, as a self-update needs"
	}
}

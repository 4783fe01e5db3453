// Command wirefleet-agent is the Wirefleet endpoint agent: it enrolls this
// machine, keeps its secrets in the OS secret store, runs the WireGuard
// tunnel as a system service, and keeps the peers in sync with the server.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wirefleet/wirefleet/agent/internal/control"
	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/secdir"
	"github.com/wirefleet/wirefleet/agent/internal/service"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Version is stamped at build time with -ldflags "-X main.Version=…".
var Version = "dev"

type globals struct {
	flags          *pflag.FlagSet // the global flags, to tell which were set
	stateDir       string
	iface          string
	wireguard      string
	eagerPeers     bool
	acceptDNS      bool
	keyRotation    time.Duration
	peerIdle       time.Duration
	logLevel       string
	level          slog.Level
	healthInterval time.Duration
	peerRelayRate  float64
	ssh            bool
	sshCheckWait   time.Duration
	metadataURL    string
	flagsListen    string
	smbiosDir      string
	updateInterval time.Duration
	updateGate     time.Duration
	channel        string
	routing        routingFlags
}

// channelOverride is --channel when given on the command line, else "":
// then config.json's channel (set at install) is followed.
func (g *globals) channelOverride() (string, error) {
	if g.flags == nil || !g.flags.Changed("channel") {
		return "", nil
	}
	return g.channel, state.ValidateChannel(g.channel)
}

func (g *globals) paths() paths.Paths {
	if g.stateDir != "" {
		return paths.In(g.stateDir)
	}
	return paths.Default()
}

// checkPeerIdle refuses a --peer-idle that would remove peers at once.
func checkPeerIdle(d time.Duration) error {
	if d < time.Second {
		return fmt.Errorf("--peer-idle %v: want at least 1s (--eager-peers keeps every peer configured)", d)
	}
	return nil
}

// parseLevel reads --log-level; a typo is an error, not a silent "info".
func parseLevel(s string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return lv, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return lv, nil
}

func (g *globals) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: g.level}))
}

// serviceArgs are the arguments the installed service runs with: "run" and
// every global flag given on this command line (so defaults are stated once,
// where the flags are defined), plus the state dir when it came from
// WIREFLEET_STATE_DIR, which the service would not see.
func (g *globals) serviceArgs() []string {
	return append([]string{"run"}, g.globalArgs()...)
}

// shellArgs renders args for a command line a user copies, each quoted
// when the shell would split or expand it, with a leading space.
func shellArgs(args []string) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteByte(' ')
		if a != "" && !strings.ContainsFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '=' || r == ',' || r == '@' || r == '+' || unicode.IsLetter(r) || unicode.IsDigit(r))
		}) {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// globalArgs are the global flags given on this command line (and the
// state dir from WIREFLEET_STATE_DIR), for the commands that must reach
// the same agent: the service, and the next steps printed after enroll.
func (g *globals) globalArgs() []string {
	var args []string
	g.flags.VisitAll(func(f *pflag.Flag) {
		switch {
		case f.Changed:
			args = append(args, "--"+f.Name, f.Value.String())
		case f.Name == "state-dir" && g.stateDir != "":
			args = append(args, "--state-dir", g.stateDir)
		}
	})
	return args
}

func main() {
	g := &globals{}
	root := &cobra.Command{
		Use:           "wirefleet-agent",
		Short:         "Wirefleet endpoint agent",
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	g.flags = pf
	root.PersistentPreRunE = func(*cobra.Command, []string) (err error) {
		g.level, err = parseLevel(g.logLevel)
		if err != nil {
			return err
		}
		if g.keyRotation != 0 && g.keyRotation < time.Hour {
			return fmt.Errorf("--key-rotation %s: give at least 1h, or 0 to rotate only when an admin asks", g.keyRotation)
		}
		return checkPeerIdle(g.peerIdle)
	}
	pf.StringVar(&g.stateDir, "state-dir", os.Getenv("WIREFLEET_STATE_DIR"), "keep config, state and file secrets here instead of the OS default")
	pf.StringVar(&g.iface, "interface", "", "tunnel interface name (default wf0; utun on macOS)")
	pf.StringVar(&g.wireguard, "wireguard", tunnel.ModeAuto, "WireGuard backend: auto or userspace (wireguard-go with NAT traversal: direct where possible, else the server's relay) or kernel (the Linux module; direct paths only)")
	pf.BoolVar(&g.eagerPeers, "eager-peers", false, "keep every peer configured in wireguard-go (by default a peer is configured on its first packet and removed after --peer-idle without traffic; userspace only)")
	pf.BoolVar(&g.acceptDNS, "accept-dns", true, "answer NAME.<fleet domain> on the overlay address and point the system's resolver at it for that domain only (false: leave DNS alone)")
	pf.DurationVar(&g.keyRotation, "key-rotation", engine.DefaultKeyRotation, "replace the WireGuard key when it is this old (0: only when an admin asks); peers follow through their maps")
	pf.DurationVar(&g.peerIdle, "peer-idle", 5*time.Minute, "quiet period after which a peer is removed from wireguard-go until its next packet")
	pf.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	pf.DurationVar(&g.healthInterval, "health-interval", 30*time.Second, "how often to report health to the server")
	pf.StringVar(&g.smbiosDir, "smbios-dir", "", "where the inventory reads SMBIOS identity (sys_vendor, product_uuid, …; default /sys/class/dmi/id): give a container a copy or bind mount of the host's")
	pf.StringVar(&g.metadataURL, "metadata-url", "", "the cloud instance metadata service the inventory asks for region and instance type, only on a machine whose SMBIOS names a cloud (default http://169.254.169.254)")
	pf.BoolVar(&g.ssh, "ssh", true, "serve SSH on the overlay address to the machines and users the policy's \"ssh\" rules name (false: never, whatever the policy says)")
	pf.DurationVar(&g.sshCheckWait, "ssh-check-wait", 2*time.Minute, "how long a login under an ssh \"check\" rule waits for its owner's confirmation")
	pf.Float64Var(&g.peerRelayRate, "peer-relay-rate", netpath.DefaultPairRate, "as a peer relay (the policy's \"relays\"), the bytes per second one pair of machines may send through this one")
	pf.StringVar(&g.flagsListen, "flags-listen", defaultFlagsListen, "address of the local OFREP flag endpoint (empty disables it)")
	pf.DurationVar(&g.updateInterval, "update-interval", 24*time.Hour, "how often to look for a signed release (0 disables self-update)")
	pf.DurationVar(&g.updateGate, "update-gate", 2*time.Minute, "how long a new version has to report to the server before it is rolled back")
	pf.StringVar(&g.channel, "channel", "stable", "release channel to follow (enroll stores it; run overrides the stored one)")
	g.routing.register(pf)
	root.AddCommand(dnsCmd(g), channelCmd(g), superviseCmd(g), enrollCmd(g), runCmd(g), statusCmd(g), logoutCmd(g), loginCmd(g), upDownCmd(g, "up"), upDownCmd(g, "down"), setCmd(g), flagsCmd(g), selfTestCmd(), updateWatchCmd(g), installerCmd(g), sshCmd(g), sshSFTPCmd(),
		&cobra.Command{
			Use: "service-recovery", Hidden: true, Args: cobra.NoArgs,
			Short: "Set the Windows service's recovery actions (the MSI runs this; wixl cannot)",
			RunE:  func(*cobra.Command, []string) error { return service.SetRecovery(service.Name) },
		})
	for _, action := range []string{"install", "uninstall", "start", "stop", "restart"} {
		root.AddCommand(serviceCmd(g, action))
	}
	if err := root.Execute(); err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			fmt.Fprintf(os.Stderr, "error: %s (%s)\n", we.Message, we.Code)
		} else {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		os.Exit(1)
	}
}

func enrollCmd(g *globals) *cobra.Command {
	var o engine.EnrollOptions
	cmd := &cobra.Command{
		Use:   "enroll --server URL [--token wfe_…]",
		Short: "Enroll this machine: generate its WireGuard key locally and register with the server",
		Long: `Enroll this machine: generate its WireGuard key locally and register with
the server. With --token the enrollment is immediate. Without one it is
interactive: the command prints a link, an admin opens it (signing in to
the admin page, with single sign-on if the server has it) and approves the
machine, who then owns it; the command waits up to 15 minutes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Server == "" {
				return errors.New("--server is required")
			}
			timeout := 60 * time.Second
			if o.Token == "" {
				timeout = 16 * time.Minute
				o.OnApprovalURL = func(u, code string) {
					fmt.Fprintf(cmd.OutOrStdout(), "To add this machine, open this link and approve code %s (sign in if asked):\n\n  %s\n\nwaiting for the approval (up to 15 minutes)…\n", code, u)
				}
			}
			o.Version = Version
			var err error
			if o.Channel, err = g.channelOverride(); err != nil {
				return err
			}
			log := g.logger()
			p := g.paths()
			ks, err := openKeystore(p, log)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			cfg, err := engine.Enroll(ctx, p, ks, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s (%s, %s); secrets in the %s keystore\n", cfg.Name, cfg.IPv4, cfg.IPv6, ks.Backend())
			extra := shellArgs(g.globalArgs())
			fmt.Fprintf(cmd.OutOrStdout(), "start the tunnel with: wirefleet-agent install%s   (or `wirefleet-agent run%s` in the foreground)\n", extra, extra)
			if extra != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "give the same flags to every command for this agent, e.g. wirefleet-agent status%s\n", extra)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", "", "server URL, e.g. https://wirefleet.example.com:8443")
	f.StringVar(&o.Token, "token", os.Getenv("WIREFLEET_TOKEN"), "enrollment token (wfe_…); without one the enrollment waits for an admin to approve it")
	f.StringVar(&o.Pin, "pin", "", "pin the server's self-signed certificate (sha256/…)")
	f.StringVar(&o.Name, "name", "", "machine name (default: derived from the hostname)")
	f.BoolVar(&o.Force, "force", false, "replace an existing enrollment")
	f.IntVar(&o.ListenPort, "listen-port", engine.DefaultListenPort, "WireGuard UDP port")
	return cmd
}

// openKeystore makes the state and configuration directories private to
// the machine's administrators (refusing ones a standard user owns), then
// opens the secret store in the state directory.
func openKeystore(p paths.Paths, log *slog.Logger) (keystore.Store, error) {
	for _, dir := range []string{p.State, p.Config} {
		err := secdir.Ensure(dir)
		if errors.Is(err, secdir.ErrNotEnforced) {
			log.Warn("the state directory is not restricted to administrators on this platform", "dir", dir, "err", err)
		} else if err != nil {
			return nil, err
		}
		if p.Config == p.State {
			break
		}
	}
	return keystore.Open(p.State, log)
}

// runAgent is what the service executes.
func runAgent(g *globals, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		channel, err := g.channelOverride()
		if err != nil {
			return err
		}
		p := g.paths()
		// First, before anything that a broken version could fail at: is
		// this version on trial after a self-update, and has it used up
		// its starts?
		start, err := update.Begin(p.State, Version, time.Now())
		if err != nil {
			log.Error("reading the self-update trial record", "err", err)
		}
		if start.RolledBack {
			log.Error("rolling back a self-update: "+start.Reason, "version", Version)
			os.Exit(update.ExitForUpdate) // the service manager starts the previous version
		}
		ctx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		expired := make(chan string, 1)
		if t := start.Trial; t != nil {
			log.Info("this version is on trial after a self-update", "from", t.From, "start", t.Starts, "of", t.MaxStarts, "deadline", t.Deadline.Format(time.RFC3339))
			go watchTrial(ctx, p.State, t.Deadline, log, expired, stopRun)
		}
		ks, err := openKeystore(p, log)
		if err != nil {
			return err
		}
		fl := flags.NewStore(p.FlagCache(), log)
		if g.flagsListen != "" {
			go func() {
				if err := flags.Serve(ctx, g.flagsListen, fl); err != nil {
					log.Error("local flag endpoint unavailable", "err", err)
				}
			}()
		}
		eng := &engine.Engine{Paths: p, Store: ks, Log: log, Version: Version, Iface: g.iface, WireGuard: g.wireguard, EagerPeers: g.eagerPeers, PeerIdle: g.peerIdle, HealthInterval: g.healthInterval, PeerRelayRate: g.peerRelayRate, SSHOff: !g.ssh, SSHCheckWait: g.sshCheckWait, MetadataURL: g.metadataURL, SMBIOSDir: g.smbiosDir, Flags: fl,
			Exe: executable(), UpdateInterval: g.updateInterval, UpdateGate: g.updateGate, Channel: channel, UpdateOutcome: start.Outcome,
			KeyRotation: g.keyRotation}
		if g.acceptDNS {
			eng.DNS = dnsManager(p, log)
		}
		if eng.Routing, err = applyRoutingFlags(g, p.ConfigFile()); err != nil && !errors.Is(err, state.ErrNotEnrolled) {
			return err
		}
		eng.Routes = &routes.Manager{Dir: p.State, Sys: routes.NewSystem(), Log: log}
		go func() {
			if err := control.Serve(ctx, p.ControlSocket(), controlAgent{eng}, flags.Handler(fl)); err != nil {
				log.Warn("control socket unavailable; `status` will show offline state", "err", err)
			}
		}()
		err = eng.Run(ctx)
		select {
		case reason := <-expired:
			log.Error("rolled back the self-update: "+reason, "version", Version)
			os.Exit(update.ExitForUpdate) // the service manager starts the previous version
		default:
		}
		if errors.Is(err, update.ErrRestart) {
			log.Info("restarting into the updated agent")
			os.Exit(update.ExitForUpdate) // the service manager starts the new binary
		}
		switch {
		case errors.Is(err, engine.ErrRevoked), errors.Is(err, engine.ErrLoggedOut), errors.Is(err, state.ErrNotEnrolled), errors.Is(err, state.ErrCorrupt):
			// Stay up and idle: exiting would make the service manager
			// restart us in a loop, and only an admin can fix these.
			eng.Stopped(err)
			log.Error("agent idle: "+err.Error(), "state_dir", p.State)
			<-ctx.Done()
			return nil
		case ctx.Err() != nil:
			return nil
		}
		return err
	}
}

// watchTrial rolls this version back when it has not committed by its
// start's deadline: it stops the agent (stop) and sends the reason on
// expired, and runAgent then exits so the previous version starts.
func watchTrial(ctx context.Context, stateDir string, deadline time.Time, log *slog.Logger, expired chan<- string, stop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(deadline) + 100*time.Millisecond):
		}
		rolled, reason, err := update.Expire(stateDir, Version, time.Now())
		switch {
		case err != nil:
			log.Error("rolling back the self-update", "err", err)
		case rolled:
			expired <- reason
			stop()
			return
		}
		if _, on := update.Pending(stateDir); !on {
			return // committed
		}
		deadline = time.Now().Add(5 * time.Second) // retry a failed rollback
	}
}

func runCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the agent in the foreground (what the system service executes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			// The logger reaches the run function through this variable, so
			// that it can include the Event Log once the service exists.
			var runLog *slog.Logger
			s, err := service.New(g.serviceArgs(), func(ctx context.Context) error { return runAgent(g, runLog)(ctx) }, log)
			if err != nil {
				return err
			}
			runLog = service.SystemLogger(s, log)
			return s.Run()
		},
	}
}

func serviceCmd(g *globals, action string) *cobra.Command {
	short := map[string]string{
		"install":   "Install the system service and start it",
		"uninstall": "Stop and remove the system service",
		"start":     "Start the system service",
		"stop":      "Stop the system service",
		"restart":   "Restart the system service",
	}[action]
	return &cobra.Command{
		Use: action, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			s, err := service.New(g.serviceArgs(), runAgent(g, log), log)
			if err != nil {
				return err
			}
			switch action {
			case "install":
				err = service.Install(s)
			case "uninstall":
				err = service.Uninstall(s)
				if err == nil {
					// The stopped agent restored it; this is for one that crashed.
					err = dnsManager(g.paths(), log).Restore()
				}
			case "start":
				err = s.Start()
			case "stop":
				err = s.Stop()
			case "restart":
				err = s.Restart()
			}
			if err != nil {
				return err
			}
			if action == "install" {
				fmt.Fprintf(cmd.OutOrStdout(), "service %s installed and started: %s\n", service.Name, service.Describe(s))
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "service %s: %s done\n", service.Name, action)
			return nil
		},
	}
}

// controlAgent adapts the engine to the control socket.
type controlAgent struct{ *engine.Engine }

func (c controlAgent) Status() any { return c.Engine.Status() }

func logoutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Leave the fleet: tell the server, remove the tunnel, wipe secrets and enrollment",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := g.paths()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := control.Call(ctx, p.ControlSocket(), "logout")
			if errors.Is(err, control.ErrNotRunning) {
				err = offlineLogout(ctx, g, p)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "logged out: the server was told, the tunnel is gone, secrets and enrollment are wiped")
			return nil
		},
	}
}

// offlineLogout is logout when the service is not running: tell the server
// with the stored credential, then wipe.
func offlineLogout(ctx context.Context, g *globals, p paths.Paths) error {
	ks, err := openKeystore(p, g.logger())
	if err != nil {
		return err
	}
	var serverErr error
	cfg, cerr := state.LoadConfig(p.ConfigFile())
	cred, kerr := ks.Get(keystore.Credential)
	if cerr == nil && kerr == nil && !cfg.Revoked {
		cl, err := engine.NewClient(cfg.Server, cfg.TrustedPins(), string(cred))
		if err == nil {
			serverErr = cl.Logout(ctx)
		} else {
			serverErr = err
		}
	}
	if err := engine.Logout(p, ks); err != nil {
		return err
	}
	if serverErr != nil {
		return fmt.Errorf("wiped locally, but the server was not told (an admin should revoke this machine): %w", serverErr)
	}
	return nil
}

// loginCmd re-authenticates an expired machine with an enrollment token: it
// keeps its name, addresses and keys (enroll --force would make a new
// machine).
func loginCmd(g *globals) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "login --token wfe_…",
		Short: "Re-authenticate this machine after its enrollment expired (keeps its name and addresses)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv("WIREFLEET_TOKEN")
			}
			if token == "" {
				return errors.New("give --token wfe_… (or WIREFLEET_TOKEN): an enrollment token from an admin")
			}
			p := g.paths()
			cfg, err := state.LoadConfig(p.ConfigFile())
			if err != nil {
				return err
			}
			if cfg.Revoked {
				return errors.New("this machine was revoked: it cannot come back; enroll it again (wirefleet-agent enroll --force)")
			}
			ks, err := openKeystore(p, g.logger())
			if err != nil {
				return err
			}
			cred, err := ks.Get(keystore.Credential)
			if err != nil {
				return fmt.Errorf("the machine credential is missing from the %s keystore (enroll again): %w", ks.Backend(), err)
			}
			cl, err := engine.NewClient(cfg.Server, cfg.TrustedPins(), string(cred))
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m, err := cl.Reauth(ctx, token)
			if err != nil {
				return fmt.Errorf("re-authentication refused: %w", err)
			}
			// The running agent is waiting before its next poll: now.
			_ = control.Call(ctx, p.ControlSocket(), "wake")
			until := "it does not expire"
			if m.ExpiresAt != nil {
				until = "it expires " + m.ExpiresAt.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-authenticated %s (%s, %s); %s\n", m.Name, m.IPv4, m.IPv6, until)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "enrollment token (wfe_…); or WIREFLEET_TOKEN")
	return cmd
}

func upDownCmd(g *globals, action string) *cobra.Command {
	short := map[string]string{"up": "Bring the tunnel back up after `down`", "down": "Remove the tunnel but stay enrolled (remembered across restarts)"}[action]
	return &cobra.Command{
		Use: action, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := control.Call(ctx, g.paths().ControlSocket(), action); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tunnel %s\n", action)
			return nil
		},
	}
}

func selfTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "self-test",
		Short: "Print the version and exit 0 (the updater runs this before swapping binaries)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "wirefleet-agent %s %s/%s\n", Version, runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// executable is the path self-updates replace. After an update
// os.Executable can name the ".old" copy (minio/selfupdate renames the
// running file), so that suffix is dropped.
func executable() string {
	p, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return strings.TrimSuffix(p, ".old")
}

// updateWatchCmd is the watchdog a self-update starts from the previous
// binary (hidden: not for people).
func updateWatchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "update-watch", Hidden: true, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			var restart func() error
			if os.Getenv("INVOCATION_ID") != "" { // under systemd: restart the service
				restart = func() error { return exec.Command("systemctl", "restart", service.Name).Run() }
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			return update.Watch(ctx, g.paths().State, log, restart)
		},
	}
}

// superviseCmd runs the agent and restarts it whenever it exits: what the
// SysV init script runs, and what to run in a container or under an init
// system that restarts nothing.
func superviseCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "supervise -- run [FLAGS]",
		Short:   "Run the agent and start it again whenever it exits (for init systems and containers that restart nothing)",
		Example: "  wirefleet-agent supervise -- run\n  wirefleet-agent supervise -- run --state-dir /srv/wirefleet",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || args[0] != "run" {
				return errors.New("give the agent's command after --, e.g. `wirefleet-agent supervise -- run`")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			exe := executable()
			if exe == "" {
				return errors.New("cannot find this program's path")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sup := &service.Supervisor{Exe: exe, Args: args, Log: g.logger()}
			return sup.Run(ctx)
		},
	}
}

// channelCmd shows or sets the release channel stored in config.json.
func channelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "channel [NAME]",
		Short: "Show the release channel this machine follows, or set it (takes effect when the agent restarts)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := g.paths()
			cfg, err := state.LoadConfig(p.ConfigFile())
			if err != nil {
				return err
			}
			if len(args) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), cfg.EffectiveChannel(""))
				return nil
			}
			if err := state.ValidateChannel(args[0]); err != nil {
				return err
			}
			cfg.Channel = args[0]
			if err := state.SaveConfig(p.ConfigFile(), cfg); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "this machine follows the %s channel from the agent's next start\n", args[0])
			return nil
		},
	}
}

package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/dnsconfig"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/mapview"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/sshd"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// ErrRevoked is returned by Run when the server revoked this machine. The
// tunnel is down and the secrets are wiped by then.
var ErrRevoked = errors.New("this machine was revoked by an admin; tunnel removed and secrets wiped")

// Engine runs an enrolled agent.
type Engine struct {
	Paths   paths.Paths
	Store   keystore.Store
	Log     *slog.Logger
	Version string
	Iface   string // interface name override
	// WireGuard selects the backend: auto (kernel module when present, else
	// wireguard-go), kernel or userspace.
	WireGuard string
	// EagerPeers turns lazy peers off: every peer of the map stays
	// configured in wireguard-go (with persistent keepalives). PeerIdle is
	// the quiet period after which a lazy peer is removed (0 = default).
	EagerPeers bool
	PeerIdle   time.Duration
	// HealthInterval is how often a health report is made (default 30 s).
	HealthInterval time.Duration
	// MetadataURL is the cloud instance metadata service the inventory
	// facts ask (""; http://169.254.169.254).
	MetadataURL string
	// SMBIOSDir is where the inventory reads SMBIOS identity ("": the
	// system's /sys/class/dmi/id).
	SMBIOSDir string
	// PeerRelayRate is what one pair may send through this machine when
	// it is a peer relay, bytes/s (0: netpath.DefaultPairRate).
	PeerRelayRate float64
	// Flags, when set, is kept in sync with the server's flag set.
	Flags *flags.Store
	// Exe is the agent binary self-updates replace; UpdateInterval (0 = off)
	// is how often to look for a release on Channel; UpdateGate is how long
	// a new version has to report before it is rolled back.
	Exe            string
	UpdateInterval time.Duration
	UpdateGate     time.Duration
	Channel        string
	// UpdateOutcome is what became of the last self-update, found when
	// this start began (update.Begin), for the next health report.
	UpdateOutcome *wire.UpdateStatus
	// NewTunnel creates the tunnel; tests replace it.
	NewTunnel func(tunnel.Config) (Tunnel, error)
	// DNS, when set, serves the fleet's names on the overlay address and
	// points the OS resolver at them for the fleet's domain (nil:
	// --accept-dns=false). DNSPort is the resolver's port (0: 53).
	DNS     *dnsconfig.Manager
	DNSPort uint16
	dns     dnsRun
	// Routes, when set, puts subnet routes and exit nodes into effect in
	// the OS (nil: routes are left alone); Routing is the owner's choices
	// (SetRouting changes them while running).
	Routes  *routes.Manager
	Routing Routing
	rt      routeState // under mu
	// SSHPort is the SSH server's port (0: 22; tests move it); SSHOff
	// keeps the server off whatever the policy says (--ssh=false);
	// SSHCheckWait is how long a check rule's login waits for its
	// confirmation.
	SSHPort      int
	SSHOff       bool
	SSHCheckWait time.Duration
	ssh          *sshd.Server // under mu, while it runs
	// KeyRotation is how old the WireGuard key may get before the agent
	// replaces it (0: only when an admin asks).
	KeyRotation time.Duration
	// Now is the clock (time.Now when nil); tests set it to decide
	// what is due — a key rotation, a cache write — at a time of theirs.
	Now      func() time.Time
	keyWake  chan struct{} // wakes rotateKeys: a map brought Self
	pollWake chan struct{} // ends pollMaps' wait before a retry (Wake)

	mu        sync.Mutex
	view      mapview.View // the agent's one copy of the map, kept by applying deltas; the tunnel reads it too
	link      link         // the tunnel and what creating it takes, under mu
	cfg       state.Config
	cl        *client.Client
	cancel    context.CancelFunc
	loggedOut bool
	lastSync  time.Time
	lastErr   string
	upd       updates // the self-update's state, under mu

	endpointsDirty chan struct{} // wakes reportEndpoints: STUN saw a new address
	cache          mapCache      // the on-disk copy of the view
	runCtx         context.Context
	// RetryWait is the wait before tunnel retry n (default Backoff).
	RetryWait func(n int) time.Duration
}

// updates is what the engine knows of self-updates: what to report, what
// the server says of releases, and whether to restart into a new binary.
type updates struct {
	pending   *wire.UpdateStatus // to report once in the next health report
	restart   bool               // an update was installed; Run returns update.ErrRestart
	tag       string             // the server's release tag, from the last health acknowledgement
	pin       string             // the version an admin pinned this machine to, likewise
	acked     bool               // a health acknowledgement has arrived
	following string             // the release channel the updater follows (set at start)
	changed   chan struct{}      // wakes checkUpdates: the tag or the pin moved
}

// link is the tunnel as the engine supervises it (tunnel.go).
type link struct {
	tun      Tunnel        // nil while down
	cfg      tunnel.Config // how to create it (key, port, backend)
	err      string        // why the tunnel could not be created, while it cannot
	retrying bool          // keepTunnel runs
}

// mapCache is the network map's on-disk copy: written at once for a full
// map, behind deltas at most every CacheEvery.
type mapCache struct {
	dirty chan struct{} // wakes saveCaches: a delta changed the view
	stale bool          // the view has changes the cache lacks (under Engine.mu)
	mu    sync.Mutex    // orders cache writes
}

// now is the engine's clock.
func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Backoff returns the wait before retry n (0-based): exponential from 1 s,
// capped at 60 s, with ±50% jitter so that agents cut off together by a
// server restart do not come back together.
func Backoff(n int) time.Duration {
	d := time.Second << min(n, 6)
	if d > 60*time.Second {
		d = 60 * time.Second
	}
	return d/2 + time.Duration(rand.Int64N(int64(d)))
}

// ErrLoggedOut is returned by Run after a logout through the control socket.
var ErrLoggedOut = errors.New("logged out: tunnel removed and secrets wiped")

// Run keeps the tunnel in sync until ctx ends or the machine is revoked.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx) // stops the reporters when Run returns
	defer cancel()
	e.upd.changed = make(chan struct{}, 1)
	e.endpointsDirty = make(chan struct{}, 1)
	e.cache.dirty = make(chan struct{}, 1)
	e.keyWake = make(chan struct{}, 1)
	e.mu.Lock()
	e.pollWake = make(chan struct{}, 1)
	e.rt.dirty = make(chan struct{}, 1)
	e.mu.Unlock()
	cfg, priv, cl, err := e.loadIdentity()
	if err != nil {
		return err
	}
	if err := e.loadStartingMap(ctx, cl); err != nil {
		return err
	}
	if e.DNS != nil {
		// What a crashed run left in the OS's resolver configuration.
		if err := e.DNS.Restore(); err != nil {
			e.Log.Warn("DNS: cleaning up after the last run", "err", err)
		}
		defer e.stopDNS("the agent stopped")
	}
	if e.Routes != nil {
		// What a crashed run left: routes, forwarding, firewall rules.
		if err := e.Routes.Restore(); err != nil {
			e.Log.Warn("routes: cleaning up after the last run", "err", err)
		}
	}
	e.mu.Lock()
	e.cfg, e.cl, e.cancel, e.runCtx = cfg, cl, cancel, ctx
	e.link.cfg = tunnel.Config{Name: e.Iface, MTU: cfg.MTU, ListenPort: cfg.ListenPort, PrivateKey: priv, Mode: e.WireGuard}
	if e.marks() {
		e.link.cfg.Mark = routes.Mark // WireGuard's own packets never enter the tunnel
	}
	self := e.view.Self()
	e.mu.Unlock()
	e.finishRotation(priv)
	if self != nil {
		e.notePins(self.ServerPins) // from the cached or first map
	}
	defer e.closeTunnel()
	defer e.saveCache()
	if cfg.Down {
		e.Log.Info("tunnel left down (`wirefleet-agent up` brings it back)")
	} else if err := e.bringUp(); err != nil {
		// The service stays up (a restart would not help: a missing
		// driver, an interface name in use): it keeps the map, reports
		// the error in status and health, and tries again.
		e.Log.Error("the tunnel cannot be created; retrying with backoff", "err", err)
		e.retryTunnel()
	}
	e.startBackground(ctx, cfg, cl, cancel)
	if err := e.pollMaps(ctx, cfg, cl); err != nil {
		return err
	}
	e.mu.Lock()
	out, restart := e.loggedOut, e.upd.restart
	e.mu.Unlock()
	if out {
		return ErrLoggedOut
	}
	if restart {
		return update.ErrRestart
	}
	return nil
}

// expiredRetry is how often an expired machine asks whether it was
// re-authenticated (login wakes it at once).
const expiredRetry = 30 * time.Second

// Wake ends the wait before the next network-map poll (after a
// re-authentication).
func (e *Engine) Wake() {
	e.mu.Lock()
	ch := e.pollWake
	e.mu.Unlock()
	if ch != nil {
		wake(ch)
	}
}

// Logout tells the server this machine is leaving (it revokes itself),
// then removes the tunnel and wipes secrets and state. When the server
// cannot be told, the local wipe still happens and the error says so.
func (e *Engine) Logout(ctx context.Context) error {
	e.mu.Lock()
	cl, cancel := e.cl, e.cancel
	e.mu.Unlock()
	if cancel == nil {
		return errors.New("engine: not running")
	}
	// Stop the sync loop first, so that the server's revocation cannot
	// reach it and be recorded as an admin's revocation.
	e.mu.Lock()
	e.loggedOut = true
	e.dropTunnelLocked()
	e.mu.Unlock()
	e.stopDNS("logged out")
	cancel()
	serverErr := cl.Logout(ctx)
	if e.Flags != nil {
		e.Flags.Clear()
	}
	err := errors.Join(Logout(e.Paths, e.Store), removeIfExists(e.healthQueue()), removeIfExists(e.Paths.FlowQueue()))
	if serverErr != nil {
		return errors.Join(fmt.Errorf("wiped locally, but the server was not told (an admin should revoke this machine): %w", serverErr), err)
	}
	return err
}

// revoked tears everything down and records the revocation so that the
// service stays stopped instead of retrying.
func (e *Engine) revoked(cfg state.Config) error {
	e.mu.Lock()
	out := e.loggedOut
	e.mu.Unlock()
	if out {
		return ErrLoggedOut
	}
	e.Log.Error("this machine was revoked by an admin: removing the tunnel and wiping its secrets", "machine", cfg.Name)
	e.mu.Lock()
	e.dropTunnelLocked()
	e.mu.Unlock()
	if err := keystore.WipeAll(e.Store); err != nil {
		e.Log.Error("wiping secrets", "err", err)
	}
	_ = removeIfExists(e.Paths.NetmapCache())
	_ = removeIfExists(e.healthQueue())
	if e.Flags != nil {
		e.Flags.Clear()
	}
	now := e.now().UTC()
	cfg.Revoked, cfg.RevokedAt = true, &now
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		e.Log.Error("recording the revocation", "err", err)
	}
	return ErrRevoked
}

// wake signals c without blocking.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

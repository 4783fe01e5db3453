package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/dnsconfig"
	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/agent/internal/health"
	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/agent/internal/paths"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// ErrRevoked is returned by Run when the server revoked this machine. The
// tunnel is down and the secrets are wiped by then.
var ErrRevoked = errors.New("this machine was revoked by an admin; tunnel removed and secrets wiped")

// Tunnel is what the engine needs of a WireGuard interface.
type Tunnel interface {
	Apply(wire.NetMap) error
	Peers() ([]tunnel.PeerStatus, error)
	Name() string
	Mode() string // the WireGuard backend: userspace or kernel
	Close() error
}

// filtering is a Tunnel that enforces the access policy (the userspace
// device; a kernel device cannot).
type filtering interface {
	Filter() *filter.Filter
}

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
	// KeyRotation is how old the WireGuard key may get before the agent
	// replaces it (0: only when an admin asks).
	KeyRotation time.Duration
	keyWake     chan struct{} // wakes rotateKeys: a map brought Self
	pollWake    chan struct{} // ends pollMaps' wait before a retry (Wake)

	mu        sync.Mutex
	view      wire.View // the agent's full picture of the map, kept by applying deltas
	tun       Tunnel
	tcfg      tunnel.Config
	cfg       state.Config
	cl        *client.Client
	cancel    context.CancelFunc
	loggedOut bool
	lastSync  time.Time
	lastErr   string
	updateSt  *wire.UpdateStatus // to report once in the next health report
	restart   bool               // an update was installed; Run returns update.ErrRestart
	releases  string             // the server's release tag, from the last health acknowledgement
	pin       string             // the version an admin pinned this machine to, likewise
	acked     bool               // a health acknowledgement has arrived

	releasesChanged chan struct{} // wakes checkUpdates
	paths           *netpath.Bind // the tunnel's path-choosing bind (userspace backend)
	endpointsDirty  chan struct{} // wakes reportEndpoints: STUN saw a new address
	cacheDirty      chan struct{} // wakes saveCaches: a delta changed the view
	cacheStale      bool          // the view has changes the cache lacks
	cacheMu         sync.Mutex    // orders cache writes
	tunErr          string        // why the tunnel could not be created, while it cannot
	following       string        // the release channel the updater follows (set at start)
	retrying        bool          // keepTunnel runs
	runCtx          context.Context
	// RetryWait is the wait before tunnel retry n (default Backoff).
	RetryWait func(n int) time.Duration
}

// CacheEvery is how often at most a map delta is written to the map
// cache. Deltas arrive whenever any machine in the fleet changes and the
// cache is the whole map (a megabyte at 5,000 peers), so they are
// coalesced; full maps are written at once, and Run writes what is left
// when it returns. A crash loses at most this much: the agent then asks
// the server for the changes since the older version.
const CacheEvery = 10 * time.Second

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
	e.releasesChanged = make(chan struct{}, 1)
	e.endpointsDirty = make(chan struct{}, 1)
	e.cacheDirty = make(chan struct{}, 1)
	e.keyWake = make(chan struct{}, 1)
	e.mu.Lock()
	e.pollWake = make(chan struct{}, 1)
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
	e.mu.Lock()
	e.cfg, e.cl, e.cancel, e.runCtx = cfg, cl, cancel, ctx
	e.tcfg = tunnel.Config{Name: e.Iface, MTU: cfg.MTU, ListenPort: cfg.ListenPort, PrivateKey: priv, Mode: e.WireGuard}
	self := e.view.Self
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
	out, restart := e.loggedOut, e.restart
	e.mu.Unlock()
	if out {
		return ErrLoggedOut
	}
	if restart {
		return update.ErrRestart
	}
	return nil
}

// loadIdentity reads the enrollment, the WireGuard key and the machine
// credential, and builds the pinned server client.
func (e *Engine) loadIdentity() (state.Config, wgtypes.Key, *client.Client, error) {
	var priv wgtypes.Key
	cfg, err := state.LoadConfig(e.Paths.ConfigFile())
	if err != nil {
		return cfg, priv, nil, err
	}
	if cfg.Revoked {
		return cfg, priv, nil, ErrRevoked
	}
	keyb, err := e.Store.Get(keystore.PrivateKey)
	if err != nil {
		return cfg, priv, nil, fmt.Errorf("engine: WireGuard key missing from the %s keystore (enroll again): %w", e.Store.Backend(), err)
	}
	cred, err := e.Store.Get(keystore.Credential)
	if err != nil {
		return cfg, priv, nil, fmt.Errorf("engine: machine credential missing from the %s keystore (enroll again): %w", e.Store.Backend(), err)
	}
	if err := checkSecrets(keyb, cred, e.Store.Backend()); err != nil {
		return cfg, priv, nil, err
	}
	copy(priv[:], keyb)
	cl, err := NewClient(cfg.Server, cfg.TrustedPins(), string(cred))
	if err != nil {
		return cfg, priv, nil, state.Corrupt(e.Paths.ConfigFile(), err.Error())
	}
	return cfg, priv, cl, nil
}

// checkSecrets refuses a WireGuard key or credential that a torn write or
// a damaged keystore left unusable. A truncated key once brought a tunnel
// "up" through which nothing passed, and a damaged credential surfaced as
// `invalid header field value for "Authorization"`.
func checkSecrets(key, cred []byte, backend string) error {
	if len(key) != wgtypes.KeyLen {
		return state.Corrupt("the WireGuard key in the "+backend+" keystore", fmt.Sprintf("%d bytes, want %d", len(key), wgtypes.KeyLen))
	}
	if bytes.Equal(key, make([]byte, wgtypes.KeyLen)) {
		return state.Corrupt("the WireGuard key in the "+backend+" keystore", "all zeros")
	}
	c := string(cred)
	if !strings.HasPrefix(c, wire.PrefixMachineCred) || len(c) < len(wire.PrefixMachineCred)+16 || len(c) > 256 ||
		strings.ContainsFunc(c, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return state.Corrupt("the machine credential in the "+backend+" keystore", fmt.Sprintf("%d bytes that do not read as a wfm_ credential", len(cred)))
	}
	return nil
}

// loadStartingMap starts from the cached map, so the tunnel comes up while
// the server is unreachable, or else waits for the first map.
func (e *Engine) loadStartingMap(ctx context.Context, cl mapFetcher) error {
	cache, ok, err := state.LoadCache(e.Paths.NetmapCache())
	if err != nil {
		e.Log.Warn("ignoring the network-map cache", "err", err)
	}
	if ok {
		_ = e.view.Apply(cache.Map)
		e.Log.Info("starting from the cached network map", "version", cache.Map.Version, "peers", len(cache.Map.Peers), "saved_at", cache.SavedAt)
	}
	if e.view.Self != nil {
		return nil
	}
	// No cache: wait for the first map to learn the prefixes.
	nm, err := e.firstMap(ctx, cl)
	if err != nil {
		return err
	}
	if err := e.view.Apply(nm); err != nil {
		return fmt.Errorf("engine: first network map: %w", err)
	}
	// The cache was missing or unreadable: write this map now. Later
	// polls answer "unchanged" against it and would never mark the
	// cache stale, so a torn netmap.json stayed empty and the next
	// start without the server had no map and no tunnel.
	e.mu.Lock()
	e.cacheStale = true
	e.mu.Unlock()
	e.saveCache()
	return nil
}

// mapFetcher is what the engine asks for a network map.
type mapFetcher interface {
	Netmap(context.Context, uint64, time.Duration) (wire.NetMap, error)
}

func (e *Engine) closeTunnel() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tun != nil {
		e.tun.Close()
		e.tun = nil
	}
	if e.paths != nil {
		e.paths.Shutdown()
		e.paths = nil
	}
}

// startBackground starts what runs beside the map poll until ctx ends:
// endpoint reports, health reports, flag sync and update checks.
func (e *Engine) startBackground(ctx context.Context, cfg state.Config, cl *client.Client, cancel context.CancelFunc) {
	go e.reportEndpoints(ctx, cl, cfg.ListenPort, e.tunName())
	go e.saveCaches(ctx)
	go e.rotateKeys(ctx, cl)
	reporter := &health.Reporter{
		Sender: cl, Path: e.healthQueue(), Interval: e.HealthInterval, Log: e.Log,
		Collect: func(ctx context.Context) wire.HealthReport {
			r := health.Collect(ctx, e.Version, e.tunnelHealth())
			r.Update = e.takeUpdate()
			r.ServerPins = cl.Pins() // the server rotates its TLS key once every agent holds the next one
			return r
		},
		OnAck: func(ack wire.HealthAck) {
			e.noteReleases(ack)
			if e.Flags != nil {
				e.Flags.Heard() // the server answers: a held flag poll is current
			}
		},
	}
	go reporter.Run(ctx)
	if e.Flags != nil {
		// Health reports are the heartbeat that confirms the flags
		// while their poll is held: past one interval and some without
		// an answer, they are stale.
		if e.HealthInterval > 0 {
			e.Flags.SetMaxSilence(e.HealthInterval + 15*time.Second)
		}
		go func() {
			e.Flags.Sync(ctx, cl, Backoff)
			e.Flags.Save() // keep the last confirmation for the next start
		}()
	}
	if st := e.UpdateOutcome; st != nil {
		if st.State == "ok" {
			e.Log.Info("the update to "+st.To+" succeeded", "from", st.From)
		} else {
			e.Log.Error("the update to "+st.To+" failed and was rolled back; this version will not try it again", "reason", st.Reason)
		}
		e.setUpdate(st)
	}
	if e.UpdateInterval > 0 && e.Exe != "" {
		channel := cfg.EffectiveChannel(e.Channel)
		e.mu.Lock()
		e.following = channel
		e.mu.Unlock()
		u := &update.Updater{Server: cfg.Server, HTTP: cl.HTTPClient(), Root: cfg.ReleaseRoot, Channel: channel, Current: e.Version,
			MachineID: cfg.MachineID, Exe: e.Exe, StateDir: e.Paths.State, Gate: e.UpdateGate, Log: e.Log, Pin: e.pinned,
			OnOutcome: func(st wire.UpdateStatus) { e.setUpdate(&st) }}
		go e.checkUpdates(ctx, u, cancel)
	}
}

// pollMaps long-polls the network map until ctx ends, applying each map
// and retrying with backoff while the server is unreachable. It returns
// early only when the machine is revoked.
func (e *Engine) pollMaps(ctx context.Context, cfg state.Config, cl *client.Client) error {
	committed := false
	failures := 0
	expired := false // the last poll said machine_expired
	for ctx.Err() == nil {
		e.mu.Lock()
		since := e.view.Version
		e.mu.Unlock()
		wait := time.Duration(0) // the server's long-poll
		if !committed {
			// The first poll returns at once: it proves the server accepts
			// us, which commits a pending self-update without waiting for
			// the next map change.
			wait = client.NoWait
		}
		nm, err := cl.Netmap(ctx, since, wait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if wire.ErrorCode(err) == wire.CodeMachineRevoked {
				return e.revoked(cfg)
			}
			d := Backoff(failures)
			failures++
			e.setErr(err)
			if wire.ErrorCode(err) == wire.CodeMachineExpired {
				// Peers have dropped this machine; its secrets stay, for
				// `wirefleet-agent login --token …` (which wakes this wait).
				d = expiredRetry
				if !expired {
					e.Log.Error("this machine's enrollment expired: it is out of every peer's map until it re-authenticates; run `wirefleet-agent login --token wfe_…` with a token from an admin", "err", err)
				}
				expired = true
			} else {
				e.Log.Warn("network-map poll failed; retrying", "err", err, "retry_in", d.Round(time.Millisecond), "failures", failures)
			}
			select {
			case <-ctx.Done():
			case <-time.After(d):
			case <-e.pollWake:
			}
			continue
		}
		if expired {
			e.Log.Info("re-authenticated: back in the fleet")
			expired = false
		} else if failures > 0 {
			e.Log.Info("server reachable again", "after_failures", failures)
		}
		failures = 0
		e.setErr(nil)
		if !committed {
			committed = true
			if m := update.Commit(e.Paths.State, e.Version, time.Now()); m != nil {
				e.Log.Info("update healthy and committed", "from", m.From, "to", m.To)
				e.setUpdate(&wire.UpdateStatus{From: m.From, To: m.To, State: "ok", At: time.Now().UTC()})
			}
		}
		e.applyMap(nm)
	}
	return nil
}

// applyMap applies one map to the tunnel and the view, and caches the
// result on disk when it changed anything.
func (e *Engine) applyMap(nm wire.NetMap) {
	t0 := time.Now()
	if e.Flags != nil {
		e.Flags.Heard() // any answer from the server confirms a held flag poll
	}
	e.mu.Lock()
	if e.tun != nil {
		if err := e.tun.Apply(nm); err != nil {
			e.mu.Unlock()
			e.Log.Error("applying network map", "err", err)
			return
		}
	}
	names := e.DNS != nil && namesMove(&e.view, nm) // asked of the view before the map
	if err := e.view.Apply(nm); err != nil {
		e.mu.Unlock()
		e.Log.Error("ignoring a network map", "version", nm.Version, "err", err)
		return
	}
	peers := len(e.view.Peers)
	e.lastSync = time.Now()
	paths := e.paths
	if !nm.Unchanged {
		e.cacheStale = true
	}
	e.mu.Unlock()
	if paths != nil && nm.Self != nil {
		paths.SetServer(nm.Self.STUN, nm.Self.Relay)
	}
	if nm.Self != nil {
		wake(e.keyWake) // it may carry an admin's request to rotate the key
		e.notePins(nm.Self.ServerPins)
	}
	if nm.Unchanged {
		return
	}
	if names {
		e.syncDNS() // renames and revocations answer with the next query
	}
	// Deltas come whenever any machine in the fleet changes: Debug, so a
	// big fleet does not fill the log; full maps (start, reconnect) Info.
	lvl := slog.LevelDebug
	if nm.Full {
		lvl = slog.LevelInfo
	}
	e.Log.Log(context.Background(), lvl, "network map applied", "version", nm.Version, "full", nm.Full,
		"added", len(nm.Added), "changed", len(nm.Changed), "removed", len(nm.Removed), "peers", peers,
		"took", time.Since(t0).Round(time.Microsecond))
	if nm.Full || e.cacheDirty == nil {
		e.saveCache()
		return
	}
	select {
	case e.cacheDirty <- struct{}{}:
	default:
	}
}

// saveCaches writes the map cache at most every CacheEvery while deltas
// arrive.
func (e *Engine) saveCaches(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.cacheDirty:
		}
		select {
		case <-ctx.Done():
			return // Run writes it
		case <-time.After(CacheEvery):
		}
		e.saveCache()
	}
}

// saveCache writes the view to the map cache if the cache lacks some of it.
func (e *Engine) saveCache() {
	e.cacheMu.Lock()
	defer e.cacheMu.Unlock()
	e.mu.Lock()
	if !e.cacheStale || e.view.Self == nil {
		e.mu.Unlock()
		return
	}
	full := e.view.Full()
	e.cacheStale = false
	e.mu.Unlock()
	if err := state.SaveCache(e.Paths.NetmapCache(), state.Cache{SavedAt: time.Now().UTC(), Map: full}); err != nil {
		e.Log.Warn("saving the network-map cache", "err", err)
		e.mu.Lock()
		e.cacheStale = true
		e.mu.Unlock()
	}
}

// checkUpdates looks for a release shortly after start and then every
// UpdateInterval. After installing one it stops Run, whose caller exits so
// the service manager starts the new binary.
func (e *Engine) checkUpdates(ctx context.Context, u *update.Updater, stop context.CancelFunc) {
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.releasesChanged:
			e.Log.Info("the server has new releases; looking for an update")
		}
		err := u.Check(ctx)
		switch {
		case errors.Is(err, update.ErrRestart):
			e.mu.Lock()
			e.restart = true
			e.mu.Unlock()
			stop()
			return
		case err != nil && ctx.Err() == nil:
			e.Log.Warn("update check", "err", err)
		}
		t.Reset(e.UpdateInterval)
	}
}

// noteReleases wakes the update checker when the server's release tag
// changes (the first tag seen is only recorded: the checker runs at start
// anyway).
func (e *Engine) noteReleases(ack wire.HealthAck) {
	e.mu.Lock()
	changed := ack.Releases != "" && e.releases != "" && ack.Releases != e.releases
	if ack.Releases != "" {
		e.releases = ack.Releases
	}
	if ack.Pin != e.pin {
		changed = e.acked // the first acknowledgement only sets it: the start-up check follows
		e.pin = ack.Pin
	}
	e.acked = true
	e.mu.Unlock()
	if changed {
		wake(e.releasesChanged) // unless a check is already due
	}
}

// pinned returns the version an admin pinned this machine to, as of the
// last health acknowledgement.
func (e *Engine) pinned() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pin
}

func (e *Engine) setUpdate(st *wire.UpdateStatus) {
	e.mu.Lock()
	e.updateSt = st
	e.mu.Unlock()
}

func (e *Engine) takeUpdate() *wire.UpdateStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.updateSt
	e.updateSt = nil
	return st
}

// bringUp creates the tunnel and applies the whole current view; the
// error, while there is one, is reported in status and health.
func (e *Engine) bringUp() error {
	err := e.createTunnel()
	e.mu.Lock()
	e.tunErr = ""
	if err != nil {
		e.tunErr = err.Error()
	}
	e.mu.Unlock()
	if err == nil {
		e.syncDNS()
	}
	return err
}

// retryTunnel starts keepTunnel unless it runs.
func (e *Engine) retryTunnel() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.retrying || e.runCtx == nil {
		return
	}
	e.retrying = true
	go e.keepTunnel(e.runCtx)
}

// keepTunnel retries bringUp with backoff until the tunnel is up, the
// operator took it down, or ctx ends.
func (e *Engine) keepTunnel(ctx context.Context) {
	defer func() {
		e.mu.Lock()
		e.retrying = false
		e.mu.Unlock()
	}()
	wait := e.RetryWait
	if wait == nil {
		wait = Backoff
	}
	for n := 0; ; n++ {
		t := time.NewTimer(wait(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.mu.Lock()
		done := e.tun != nil || e.cfg.Down
		e.mu.Unlock()
		if done {
			return
		}
		err := e.bringUp()
		if err == nil {
			e.Log.Info("the tunnel is up after failing", "attempts", n+2)
			return
		}
		if n < 3 || n%10 == 0 {
			e.Log.Warn("the tunnel still cannot be created", "attempt", n+2, "err", err)
		}
	}
}

// createTunnel creates the tunnel and applies the whole current view.
func (e *Engine) createTunnel() error {
	up := e.NewTunnel
	if up == nil {
		up = func(c tunnel.Config) (Tunnel, error) { return tunnel.Up(c, e.Log) }
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tun != nil {
		return nil
	}
	c := e.tcfg
	c.Self = *e.view.Self
	if c.Mode != tunnel.ModeKernel && e.cl != nil {
		// Userspace WireGuard with NAT traversal: direct paths where they
		// work, the server's relay where they do not.
		paths, err := netpath.New(conn.NewDefaultBind(), netpath.Options{
			PrivateKey: c.PrivateKey, Relay: e.cl.DialRelay, Log: e.Log,
			OnReflexive: func(netip.AddrPort) { wake(e.endpointsDirty) },
		})
		if err != nil {
			return err
		}
		paths.SetServer(c.Self.STUN, c.Self.Relay)
		c.Paths, e.paths = paths, paths
		c.Lazy, c.IdleAfter = !e.EagerPeers, e.PeerIdle
	}
	tun, err := up(c)
	if err != nil {
		if e.paths != nil {
			e.paths.Shutdown()
			e.paths = nil
		}
		return err
	}
	t0 := time.Now()
	if err := tun.Apply(e.view.Full()); err != nil {
		tun.Close()
		return err
	}
	e.tun, e.tunErr = tun, "" // together: status never shows the tunnel up with the old error
	e.Log.Info("tunnel up", "iface", tun.Name(), "ipv4", c.Self.IPv4, "ipv6", c.Self.IPv6, "peers", len(e.view.Peers),
		"peers_took", time.Since(t0).Round(time.Microsecond))
	return nil
}

func (e *Engine) tunName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.tun != nil {
		return e.tun.Name()
	}
	return e.Iface
}

// notePins takes the server's announced TLS key pins (the key serving now
// and the next one), when the agent pins at all: new connections accept
// either, and they are kept in the config for the next start. The map came over a connection the
// current pins verified, so the server vouches for the set.
func (e *Engine) notePins(pins []string) {
	if len(pins) == 0 || len(pins) > wire.MaxServerPins {
		return // a server with a CA's certificate, or nonsense
	}
	e.mu.Lock()
	cl := e.cl
	// An agent that trusts CAs (enrolled with no pin: the server's
	// certificate is from a CA, as with ACME) never starts pinning: the
	// announced keys are the server's self-signed ones, served to other
	// names.
	if cl == nil || len(cl.Pins()) == 0 || slices.Equal(pins, cl.Pins()) {
		e.mu.Unlock()
		return
	}
	if err := cl.SetPins(pins); err != nil {
		e.mu.Unlock()
		e.Log.Warn("ignoring the server's TLS pins", "err", err)
		return
	}
	e.cfg.Pins = slices.Clone(pins)
	cfg := e.cfg
	e.mu.Unlock()
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		e.Log.Warn("recording the server's TLS pins", "err", err)
	}
	e.Log.Info("the server's TLS keys: accepting the current one and the next it announced", "pins", pins)
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

// Down removes the tunnel but keeps syncing, and remembers the choice
// across restarts.
func (e *Engine) Down() error {
	e.mu.Lock()
	if e.cancel == nil {
		e.mu.Unlock()
		return errors.New("engine: not running")
	}
	if e.tun != nil {
		e.tun.Close()
		e.tun = nil
	}
	e.cfg.Down = true
	cfg := e.cfg
	e.mu.Unlock()
	e.stopDNS("the tunnel was taken down")
	e.Log.Info("tunnel taken down by the operator")
	return state.SaveConfig(e.Paths.ConfigFile(), cfg)
}

// Up brings the tunnel back after Down.
func (e *Engine) Up() error {
	e.mu.Lock()
	if e.cancel == nil {
		e.mu.Unlock()
		return errors.New("engine: not running")
	}
	e.cfg.Down = false
	cfg := e.cfg
	e.mu.Unlock()
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		return err
	}
	if err := e.bringUp(); err != nil {
		e.retryTunnel()
		return fmt.Errorf("%w (the agent keeps trying)", err)
	}
	return nil
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
	if e.tun != nil {
		e.tun.Close()
		e.tun = nil
	}
	e.mu.Unlock()
	e.stopDNS("logged out")
	cancel()
	serverErr := cl.Logout(ctx)
	if e.Flags != nil {
		e.Flags.Clear()
	}
	err := errors.Join(Logout(e.Paths, e.Store), removeIfExists(e.healthQueue()))
	if serverErr != nil {
		return errors.Join(fmt.Errorf("wiped locally, but the server was not told (an admin should revoke this machine): %w", serverErr), err)
	}
	return err
}

func (e *Engine) firstMap(ctx context.Context, cl mapFetcher) (wire.NetMap, error) {
	for n := 0; ; n++ {
		nm, err := cl.Netmap(ctx, 0, 0)
		if err == nil {
			return nm, nil
		}
		if wire.ErrorCode(err) == wire.CodeMachineRevoked {
			return nm, err
		}
		e.Log.Warn("no cached network map and the server is unreachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nm, ctx.Err()
		case <-time.After(Backoff(n)):
		}
	}
}

// Stopped records why Run returned for good (revoked, damaged state):
// status shows it while the service idles.
func (e *Engine) Stopped(err error) { e.setErr(err) }

func (e *Engine) setErr(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.lastErr = ""
	} else {
		e.lastErr = err.Error()
	}
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
	if e.tun != nil {
		e.tun.Close()
		e.tun = nil
	}
	e.mu.Unlock()
	if err := keystore.WipeAll(e.Store); err != nil {
		e.Log.Error("wiping secrets", "err", err)
	}
	_ = removeIfExists(e.Paths.NetmapCache())
	_ = removeIfExists(e.healthQueue())
	if e.Flags != nil {
		e.Flags.Clear()
	}
	now := time.Now().UTC()
	cfg.Revoked, cfg.RevokedAt = true, &now
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		e.Log.Error("recording the revocation", "err", err)
	}
	return ErrRevoked
}

// reportEndpoints tells the server where this machine can be reached, at
// start and whenever the local addresses change (checked every minute).
func (e *Engine) reportEndpoints(ctx context.Context, cl interface {
	ReportEndpoints(context.Context, wire.EndpointsRequest) (wire.EndpointsRequest, error)
}, port int, iface string) {
	var last string
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		eps := LocalEndpoints(port, iface)
		e.mu.Lock()
		paths := e.paths
		e.mu.Unlock()
		if paths != nil {
			// Where STUN sees us: the address peers behind other NATs use.
			if r := paths.Reflexive(); r.IsValid() && !slices.Contains(eps, r.String()) && len(eps) < wire.MaxEndpoints-1 {
				eps = append(eps, r.String())
			}
		}
		if key := fmt.Sprint(eps); key != last {
			if _, err := cl.ReportEndpoints(ctx, wire.EndpointsRequest{Endpoints: eps, ListenPort: port}); err != nil {
				e.Log.Warn("reporting endpoints", "err", err)
			} else {
				last = key
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.endpointsDirty:
		}
	}
}

// wake signals c without blocking.
func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Status is what `wirefleet-agent status` shows.
type Status struct {
	Enrolled  bool       `json:"enrolled"`
	Running   bool       `json:"running"`
	Revoked   bool       `json:"revoked,omitempty"`
	Server    string     `json:"server,omitempty"`
	Machine   string     `json:"machine,omitempty"`
	MachineID string     `json:"machine_id,omitempty"`
	IPv4      string     `json:"ipv4,omitempty"`
	IPv6      string     `json:"ipv6,omitempty"`
	Interface string     `json:"interface,omitempty"`
	Tunnel    string     `json:"tunnel"`              // up, down
	WireGuard string     `json:"wireguard,omitempty"` // the backend: userspace or kernel
	Down      bool       `json:"down,omitempty"`      // taken down by the operator
	MapVer    uint64     `json:"netmap_version,omitempty"`
	LastSync  *time.Time `json:"last_sync,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	// TunnelError says why the tunnel cannot be created while the agent
	// retries.
	TunnelError string `json:"tunnel_error,omitempty"`
	// IPv6Off: the host refused the IPv6 overlay address (IPv6 disabled
	// by sysctl or at boot), so the tunnel carries IPv4 only.
	IPv6Off  bool                `json:"ipv6_off,omitempty"`
	Peers    []tunnel.PeerStatus `json:"peers"`
	Keystore string              `json:"keystore"`
	StateDir string              `json:"state_dir,omitempty"`
	Version  string              `json:"version"`
	Channel  string              `json:"channel,omitempty"` // the release channel followed
	// Update is the self-update state: a trial in progress and the last
	// attempt's outcome.
	Update UpdateView       `json:"update"`
	Flags  *flags.Freshness `json:"flags,omitempty"`
	// Paths describes NAT traversal: the relay connection, the STUN
	// server and the reflexive address it reported.
	Paths *netpath.Status `json:"paths,omitempty"`
	// Access is the access policy's filter on the tunnel: the rules in
	// force (who may connect to this machine) and what was dropped.
	Access *AccessView `json:"access,omitempty"`
	// DNS is the fleet resolver: the domain, the names it answers, how
	// the OS was told (nil when --accept-dns=false).
	DNS *DNSView `json:"dns,omitempty"`
	// Key is the WireGuard key's age and rotation.
	Key *KeyView `json:"key,omitempty"`
}

// KeyView is the key-rotation part of status.
type KeyView struct {
	PublicKey string    `json:"public_key"`
	CreatedAt time.Time `json:"created_at"`
	// RotateEvery is --key-rotation (0: only on an admin's request);
	// Pending says why a rotation is due and not done yet ("" when none).
	RotateEvery time.Duration `json:"rotate_every"`
	Pending     string        `json:"pending,omitempty"`
}

// AccessView is the access-policy part of status.
type AccessView struct {
	filter.Status
	// Note explains a policy that is not enforced here.
	Note string `json:"note,omitempty"`
}

// UpdateView is the self-update part of status.
type UpdateView struct {
	// Trial is the version on trial, when one is: it must reach the
	// server before Deadline, within MaxStarts starts.
	Trial *TrialView         `json:"trial,omitempty"`
	Last  *wire.UpdateStatus `json:"last,omitempty"` // the last attempt's outcome
}

// TrialView describes a self-update on trial.
type TrialView struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Starts    int       `json:"starts"`
	MaxStarts int       `json:"max_starts"`
	Deadline  time.Time `json:"deadline"`
}

// UpdateState reads the self-update state from the state directory (the
// same whether the agent runs or not).
func UpdateState(stateDir string) UpdateView {
	v := UpdateView{Last: update.Last(stateDir)}
	if m, ok := update.Pending(stateDir); ok {
		max := m.MaxStarts
		if max <= 0 {
			max = update.DefaultMaxStarts
		}
		v.Trial = &TrialView{From: m.From, To: m.To, Starts: m.Starts, MaxStarts: max, Deadline: m.Deadline.UTC()}
	}
	return v
}

// Status reports the running engine's state.
func (e *Engine) Status() Status {
	cfg, cfgErr := state.LoadConfig(e.Paths.ConfigFile())
	st := Status{Enrolled: cfgErr == nil && !cfg.Revoked, Running: true, Revoked: cfg.Revoked, Server: cfg.Server, Machine: cfg.Name,
		MachineID: cfg.MachineID, IPv4: cfg.IPv4, IPv6: cfg.IPv6, Keystore: e.Store.Backend(), Version: e.Version, Tunnel: "down", Peers: []tunnel.PeerStatus{},
		Channel: cfg.EffectiveChannel(e.Channel), Update: UpdateState(e.Paths.State), DNS: e.dnsStatus(), StateDir: e.Paths.State}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.following != "" {
		st.Channel = e.following // what the updater follows until the next start
	}
	st.MapVer = e.view.Version
	st.Down = e.cfg.Down
	if e.Flags != nil {
		fr := e.Flags.Freshness()
		st.Flags = &fr
	}
	st.LastError, st.TunnelError = e.lastErr, e.tunErr
	if errors.Is(cfgErr, state.ErrCorrupt) {
		st.LastError = cfgErr.Error()
	}
	if !e.lastSync.IsZero() {
		t := e.lastSync.UTC()
		st.LastSync = &t
	}
	if e.view.Self != nil && e.view.Self.Filter != nil {
		st.Access = &AccessView{Status: filter.Status{Enforced: false, Policy: e.view.Self.Filter.Policy, Rules: []string{}}}
		if e.tun == nil {
			st.Access.Note = "the tunnel is down"
		} else if ft, ok := e.tun.(filtering); ok && ft.Filter() != nil {
			st.Access.Status = ft.Filter().Status()
		} else {
			st.Access.Note = "not enforced: the kernel WireGuard device cannot filter; peers are still limited to the policy's (use --wireguard userspace to enforce ports)"
		}
	}
	if e.cancel != nil {
		born := e.cfg.KeyCreatedAt
		if born.IsZero() {
			born = e.cfg.EnrolledAt
		}
		st.Key = &KeyView{PublicKey: e.tcfg.PrivateKey.PublicKey().String(), CreatedAt: born, RotateEvery: e.KeyRotation}
		e.mu.Unlock()
		st.Key.Pending = e.keyDue(time.Now())
		e.mu.Lock()
	}
	if e.tun != nil {
		st.Tunnel, st.Interface, st.WireGuard = "up", e.tun.Name(), e.tun.Mode()
		if v6, ok := e.tun.(interface{ IPv6Off() bool }); ok {
			st.IPv6Off = v6.IPv6Off()
		}
		if ps, err := e.tun.Peers(); err == nil && ps != nil {
			st.Peers = ps
		}
		if e.paths != nil {
			ps := e.paths.Status()
			st.Paths = &ps
		}
	}
	return st
}

func (e *Engine) healthQueue() string { return e.Paths.HealthQueue() }

// tunnelHealth summarises the tunnel for a health report.
func (e *Engine) tunnelHealth() wire.TunnelHealth {
	e.mu.Lock()
	tun, tunErr := e.tun, e.tunErr
	e.mu.Unlock()
	th := wire.TunnelHealth{Peers: []wire.PeerHealth{}}
	if tun == nil {
		th.Error = wire.ClipFact(tunErr, wire.MaxTunnelErrorLen)
		return th
	}
	th.Up, th.Interface = true, tun.Name()
	ps, err := tun.Peers()
	if err != nil {
		return th
	}
	all := make([]wire.PeerHealth, 0, len(ps))
	for _, p := range ps {
		ph := wire.PeerHealth{ID: p.ID, Name: p.Name, Endpoint: p.Endpoint, RxBytes: p.RxBytes, TxBytes: p.TxBytes,
			Path: p.Path, LatencyMS: float64(p.Latency.Microseconds()) / 1000}
		if !p.LastHandshake.IsZero() {
			t := p.LastHandshake
			ph.LastHandshake = &t
		}
		if !p.LastProbe.IsZero() {
			t := p.LastProbe
			ph.LastProbe = &t
		}
		all = append(all, ph)
	}
	th.PeerCount = len(all)
	th.Peers, th.Connected = health.TopPeers(all, time.Now())
	return th
}

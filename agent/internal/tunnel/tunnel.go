// Package tunnel runs the agent's WireGuard interface and keeps its peers
// in line with the network map. The device is configured and read only
// through wgctrl's types (wgtypes.Config, wgtypes.Device): over the UAPI
// socket (named pipe on Windows) that the agent serves for its wireguard-go
// device, or over netlink for Linux's kernel WireGuard — the same calls
// either way, and the same socket `wg show` reads.
//
// Two backends:
//   - userspace: wireguard-go on a TUN interface (wf0; utunN on macOS;
//     Wintun on Windows). Start takes the TUN device, the UDP bind and the
//     control as arguments, so tests run it on wireguard-go's tuntest and
//     bindtest doubles;
//   - kernel (Linux, when the module is there): a "wireguard" link.
//
// Network maps are applied to the running device peer by peer (see
// PeerConfigs); the device is never recreated for a peer change. The
// portable part lives here; addresses, routes, the UAPI listener and the
// kernel link are in the _linux/_darwin/_windows files.
package tunnel

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/mapview"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Backends, as --wireguard names them.
const (
	ModeAuto      = "auto"
	ModeKernel    = "kernel"
	ModeUserspace = "userspace"
)

// Config describes the interface to bring up.
type Config struct {
	Name       string      // interface name: wf0 (Linux, Windows), utun (macOS)
	MTU        int         // default 1280
	ListenPort int         // UDP port; 0 picks one
	PrivateKey wgtypes.Key // never logged
	Self       wire.Self
	Mode       string // auto (default), kernel or userspace
	// NAT, when set, has the userspace device choose each peer's path
	// (direct, or the server's relay; see netpath) through a bind the
	// tunnel creates and owns. The kernel backend cannot, so auto means
	// userspace with it.
	NAT *NAT
	// View is the network map the tunnel configures peers from, shared
	// with its owner (the engine), which applies maps to it and calls
	// Sync. Nil: the tunnel keeps its own, and Apply feeds it.
	View *mapview.View
	// Lazy configures peers in the device only while they have traffic
	// (see lazy.go); it needs NAT. IdleAfter is the quiet period after
	// which an active peer is removed again (default DefaultIdleAfter).
	Lazy      bool
	IdleAfter time.Duration
	// Mark is the socket mark of WireGuard's UDP sockets (Linux; 0:
	// none): policy routing keeps them out of the tunnel when an exit
	// node carries everything else.
	Mark uint32
}

// NAT is how a tunnel reaches peers behind NATs: the relay to dial when no
// direct path works, and whom to tell when STUN finds the machine's
// public address (the engine reports it to the server as an endpoint).
type NAT struct {
	Relay       netpath.Dialer
	OnReflexive func(netip.AddrPort)
	// CheckPeerRelay asks the server whether two machines may use this
	// one as their peer relay (when the map makes it one).
	CheckPeerRelay netpath.RelayChecker
	PeerRelayRate  float64 // bytes/s per pair (0: netpath.DefaultPairRate)
	// Tunneled reports addresses the tunnel itself carries (netpath never
	// takes one for a direct path).
	Tunneled func(netip.Addr) bool
}

// viewOf returns the view cfg shares, or a new one holding cfg.Self.
func viewOf(cfg Config) *mapview.View {
	if cfg.View != nil {
		return cfg.View
	}
	v := &mapview.View{}
	self := cfg.Self
	_, _, _ = v.Apply(wire.NetMap{Full: true, Self: &self})
	return v
}

// Control configures and reads WireGuard devices by name. *wgctrl.Client
// is the implementation; it speaks UAPI to userspace devices and netlink
// to kernel ones.
type Control interface {
	ConfigureDevice(name string, cfg wgtypes.Config) error
	Device(name string) (*wgtypes.Device, error)
	Close() error
}

// Tunnel is a running WireGuard interface.
type Tunnel struct {
	log       *slog.Logger
	ctl       Control
	name      string
	mode      string
	keepalive time.Duration
	dev       *device.Device // userspace only
	uapi      net.Listener   // userspace only
	closeLink func() error   // kernel only
	paths     *netpath.Bind  // userspace with NAT traversal
	// checkPeerRelay and peerRelayRate are NAT's (zero without NAT).
	checkPeerRelay netpath.RelayChecker
	peerRelayRate  float64
	lazy           *lazyIndex // lazy peers (with paths), else nil
	idleAfter      time.Duration
	sessionLife    time.Duration // sessionLifetime; tests shorten it
	stopSweep      chan struct{}
	filter         *filter.Filter // userspace only: the access policy's packet filter
	ipv6Off        bool           // the host refused the IPv6 overlay address

	mu     sync.Mutex                // held while the device's peers change
	view   *mapview.View             // the network map, shared with the engine
	routes map[string][]netip.Prefix // subnet routes by the peer that carries them (SetRoutes)
}

// ChooseBackends returns the backends to try, in order, for a --wireguard
// mode: auto prefers the kernel module where this build has the kernel
// path (Linux) and falls back to wireguard-go.

// ErrNameTaken is wrapped when the interface name's UAPI socket belongs to
// another running WireGuard device.
var ErrNameTaken = errors.New("interface name in use")

func ChooseBackends(mode string, kernelBuilt bool) ([]string, error) {
	switch mode {
	case "", ModeAuto:
		if kernelBuilt {
			return []string{ModeKernel, ModeUserspace}, nil
		}
		return []string{ModeUserspace}, nil
	case ModeKernel:
		if !kernelBuilt {
			return nil, errors.New("tunnel: kernel WireGuard is available only on Linux; use --wireguard=userspace or auto")
		}
		return []string{ModeKernel}, nil
	case ModeUserspace:
		return []string{ModeUserspace}, nil
	default:
		return nil, fmt.Errorf("tunnel: unknown WireGuard mode %q (want auto, kernel or userspace)", mode)
	}
}

// Up creates the interface with the backend cfg.Mode selects, configures
// its key, port and addresses, and returns it. The caller applies peers
// with Apply.
func Up(cfg Config, log *slog.Logger) (*Tunnel, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1280
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	backends, err := ChooseBackends(cfg.Mode, kernelBuilt && cfg.NAT == nil)
	if err != nil {
		return nil, err
	}
	for i, b := range backends {
		var t *Tunnel
		if b == ModeKernel {
			t, err = upKernel(cfg, log)
		} else {
			t, err = upUserspace(cfg, log)
		}
		if err == nil {
			return t, nil
		}
		if i < len(backends)-1 {
			log.Info("kernel WireGuard unavailable; using wireguard-go", "reason", err)
		}
	}
	return nil, err
}

// upUserspace runs wireguard-go on a new TUN interface.
func upUserspace(cfg Config, log *slog.Logger) (*Tunnel, error) {
	tdev, err := tun.CreateTUN(cfg.Name, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("tunnel: create TUN %s: %w", cfg.Name, err)
	}
	ctl, err := wgctrl.New()
	if err != nil {
		tdev.Close()
		return nil, fmt.Errorf("tunnel: open wgctrl: %w", err)
	}
	var bind conn.Bind = conn.NewDefaultBind()
	if cfg.NAT != nil {
		paths, err := netpath.New(bind, netpath.Options{
			PrivateKey: cfg.PrivateKey, Relay: cfg.NAT.Relay, Log: log, OnReflexive: cfg.NAT.OnReflexive, Tunneled: cfg.NAT.Tunneled,
		})
		if err != nil {
			tdev.Close()
			ctl.Close()
			return nil, fmt.Errorf("tunnel: NAT traversal: %w", err)
		}
		paths.SetServer(cfg.Self.STUN, cfg.Self.Relay)
		paths.ServePeerRelay(cfg.Self.PeerRelay, cfg.NAT.CheckPeerRelay, cfg.NAT.PeerRelayRate)
		paths.SetPeerRelays(cfg.Self.Relays)
		bind = paths
	}
	t, err := Start(cfg, tdev, bind, ctl, log)
	if err != nil {
		return nil, err // Start closed tdev and ctl
	}
	v6Off, err := configureInterface(t.name, cfg.MTU, addrsOf(cfg.Self))
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("tunnel: configure %s: %w", t.name, err)
	}
	t.noteIPv6(v6Off)
	return t, nil
}

// noteIPv6 records that the host refused the IPv6 overlay address.
func (t *Tunnel) noteIPv6(off bool) {
	if off {
		t.ipv6Off = true
		t.log.Warn("IPv6 is disabled on this host: the tunnel carries IPv4 only (peers' IPv6 overlay addresses are unreachable from here)")
	}
}

// IPv6Off reports whether the host refused the IPv6 overlay address, so
// the tunnel carries IPv4 alone.
func (t *Tunnel) IPv6Off() bool { return t.ipv6Off }

// Start runs a wireguard-go device on tdev and bind, serves its UAPI
// socket (so ctl, `wg show` and wgctrl can reach it) and configures its
// key and port through ctl. It does not touch the OS interface's
// addresses; Up does that. On error everything passed in is closed.
func Start(cfg Config, tdev tun.Device, bind conn.Bind, ctl Control, log *slog.Logger) (*Tunnel, error) {
	name, err := tdev.Name()
	if err != nil {
		tdev.Close()
		ctl.Close()
		return nil, fmt.Errorf("tunnel: TUN name: %w", err)
	}
	lim := &logLimiter{every: time.Minute, byFormat: map[string]*limitedLine{}}
	wglog := &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...), "iface", name) },
		Errorf: func(format string, args ...any) {
			if ok, suppressed := lim.allow(format, time.Now()); ok {
				if suppressed > 0 {
					log.Warn(fmt.Sprintf(format, args...), "iface", name, "similar_suppressed", suppressed)
				} else {
					log.Warn(fmt.Sprintf(format, args...), "iface", name)
				}
			}
		},
	}
	paths, _ := bind.(*netpath.Bind)
	pf := filter.New()
	tdev = &filterTUN{Device: tdev, f: pf}
	var ltun *lazyTUN
	if paths != nil && cfg.Lazy {
		ltun = &lazyTUN{Device: tdev, closed: make(chan struct{})}
		tdev = ltun
	}
	dev := device.NewDevice(tdev, bind, wglog)
	if paths != nil {
		// Peers keep their synthetic endpoints: the bind, not the source
		// address of the last packet, decides where packets go.
		dev.DisableSomeRoamingForBrokenMobileSemantics()
	}
	uapi, err := listenUAPI(name)
	if err != nil {
		dev.Close()
		ctl.Close()
		// The control path is this socket: without it the device cannot be
		// configured, and a socket of the same name belongs to another
		// device (an agent in another network namespace, say).
		if runtime.GOOS == "windows" { // a pipe name, not a file another namespace can hold
			return nil, fmt.Errorf("tunnel: UAPI pipe for %s: %w", name, err)
		}
		if strings.Contains(err.Error(), "in use") {
			// wireguard-go found a live socket of that name: another device
			// (an agent in another network namespace shares the directory)
			// owns it, and `wg show` would show that device, not ours.
			return nil, fmt.Errorf("tunnel: %w: %s is taken: another running WireGuard device (an agent in another network namespace?) answers on its UAPI socket; give this agent its own name with --interface", ErrNameTaken, name)
		}
		return nil, fmt.Errorf("tunnel: UAPI socket for %s: %w", name, err)
	}
	t := &Tunnel{log: log, ctl: ctl, name: name, mode: ModeUserspace, dev: dev, uapi: uapi, paths: paths, filter: pf,
		keepalive: time.Duration(cfg.Self.Keepalive) * time.Second, view: viewOf(cfg)}
	if cfg.NAT != nil {
		t.checkPeerRelay, t.peerRelayRate = cfg.NAT.CheckPeerRelay, cfg.NAT.PeerRelayRate
	}
	if ltun != nil {
		t.lazy, t.idleAfter, t.sessionLife, t.stopSweep = newLazyIndex(), cfg.IdleAfter, sessionLifetime, make(chan struct{})
		if t.idleAfter <= 0 {
			t.idleAfter = DefaultIdleAfter
		}
		ltun.t.Store(t)
		paths.SetAdmit(t.admitKey)
		go t.runSweeps(t.stopSweep)
	}
	go t.serveUAPI()
	if err := t.configureKey(cfg); err != nil {
		t.Close()
		return nil, err
	}
	if err := dev.Up(); err != nil {
		t.Close()
		return nil, fmt.Errorf("tunnel: bring device up: %w", err)
	}
	return t, nil
}

// logLimiter lets each kind of wireguard-go error (its format string:
// "%v - Failed to send handshake initiation: %v", say) through once per
// interval and counts the rest, which the next line it lets through
// reports. With hundreds of unreachable peers the device would otherwise
// log each one on every retry.
type logLimiter struct {
	every    time.Duration
	mu       sync.Mutex
	byFormat map[string]*limitedLine
}

type limitedLine struct {
	until      time.Time
	suppressed int
}

// allow reports whether a line of this format may be logged now and how
// many were suppressed since the last one.
func (l *logLimiter) allow(format string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.byFormat[format]
	if e == nil {
		e = &limitedLine{}
		l.byFormat[format] = e
	}
	if now.Before(e.until) {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.until, e.suppressed = now.Add(l.every), 0
	return true, n
}

func (t *Tunnel) configureKey(cfg Config) error {
	key := cfg.PrivateKey
	port := cfg.ListenPort
	c := wgtypes.Config{PrivateKey: &key, ListenPort: &port}
	if cfg.Mark != 0 {
		mark := int(cfg.Mark)
		c.FirewallMark = &mark
	}
	if err := t.ctl.ConfigureDevice(t.name, c); err != nil {
		return fmt.Errorf("tunnel: configure device: %w", err)
	}
	return nil
}

// SetPrivateKey swaps in a rotated WireGuard key without taking the
// tunnel down: the device drops its sessions and handshakes again with the
// new key as soon as there is traffic (peers learn the key from their maps).
func (t *Tunnel) SetPrivateKey(key wgtypes.Key) error {
	if t.paths != nil {
		if err := t.paths.SetPrivateKey(key); err != nil {
			return fmt.Errorf("tunnel: new key for the paths: %w", err)
		}
	}
	if err := t.ctl.ConfigureDevice(t.name, wgtypes.Config{PrivateKey: &key}); err != nil {
		return fmt.Errorf("tunnel: set the new private key: %w", err)
	}
	// Handshake with every configured peer now, with the new key. A peer
	// that learned the key before this swap handshook too early (refused);
	// one that rotated its own key at the same moment may have swapped
	// after us. Of the handshakes each side starts on a swap or on a map
	// naming the other's new key, the last one finds both sides ready.
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dev == nil {
		return nil
	}
	t.view.Read(func(v *wire.View) {
		for id, p := range v.Peers {
			if t.lazy != nil {
				if lp := t.lazy.byID[id]; lp == nil || !lp.active.Load() {
					continue
				}
			}
			if k, err := wgtypes.ParseKey(p.PublicKey); err == nil {
				if dp := t.dev.LookupPeer(device.NoisePublicKey(k)); dp != nil {
					dp.SendKeepalive()
				}
			}
		}
	})
	return nil
}

func (t *Tunnel) serveUAPI() {
	for {
		c, err := t.uapi.Accept()
		if err != nil {
			return
		}
		go t.dev.IpcHandle(c)
	}
}

// addrsOf returns the interface addresses: each overlay address with the
// overlay prefix length, so the kernel routes the whole overlay to us.
func addrsOf(s wire.Self) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range [][2]string{{s.IPv4, s.Prefix4}, {s.IPv6, s.Prefix6}} {
		a, err1 := netip.ParseAddr(p[0])
		pfx, err2 := netip.ParsePrefix(p[1])
		if err1 == nil && err2 == nil {
			out = append(out, netip.PrefixFrom(a, pfx.Bits()))
		}
	}
	return out
}

// Name returns the interface's name (on macOS the kernel picks utunN).
func (t *Tunnel) Name() string { return t.name }

// SetServer tells NAT traversal what the map's Self says of paths: where
// the server's STUN listener is, whether it relays, whether this machine
// is a peer relay and which peer relays it may use; without NAT it does
// nothing.
func (t *Tunnel) SetServer(self wire.Self) {
	if t.paths != nil {
		t.paths.SetServer(self.STUN, self.Relay)
		t.paths.ServePeerRelay(self.PeerRelay, t.checkPeerRelay, t.peerRelayRate)
		t.paths.SetPeerRelays(self.Relays)
	}
}

// Reflexive returns the machine's address as the server's STUN saw it,
// if NAT traversal has learned one.
func (t *Tunnel) Reflexive() netip.AddrPort {
	if t.paths == nil {
		return netip.AddrPort{}
	}
	return t.paths.Reflexive()
}

// PathStatus returns NAT traversal's state (the relay connection, STUN),
// or nil without NAT traversal.
func (t *Tunnel) PathStatus() *netpath.Status {
	if t.paths == nil {
		return nil
	}
	st := t.paths.Status()
	return &st
}

// Mode returns the backend in use: "userspace" or "kernel".
func (t *Tunnel) Mode() string { return t.mode }

// ListenPort returns the UDP port the device listens on.
func (t *Tunnel) ListenPort() int {
	d, err := t.ctl.Device(t.name)
	if err != nil {
		return 0
	}
	return d.ListenPort
}

// Apply merges a network map into the tunnel's view (by the protocol's
// one rule, wire.View.Apply) and brings the device in line with it. The
// engine, which shares the view, applies maps itself and calls Sync.
func (t *Tunnel) Apply(nm wire.NetMap) error {
	before, whole, err := t.view.Apply(nm)
	if err != nil {
		return fmt.Errorf("tunnel: %w", err)
	}
	return t.Sync(before, whole, nm)
}

// Sync brings the device's peers in line with the view after nm was
// applied to it: before holds the peers nm named as they were (all of the
// device's peers when whole), as mapview.View.Apply returns them. Only
// what changed is configured: peers the map does not touch keep their
// sessions.
func (t *Tunnel) Sync(before map[string]wire.Peer, whole bool, nm wire.NetMap) error {
	if nm.Unchanged {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	t.view.Read(func(v *wire.View) { err = t.syncLocked(before, whole, nm, v) })
	return err
}

func (t *Tunnel) syncLocked(old map[string]wire.Peer, whole bool, nm wire.NetMap, v *wire.View) error {
	// old and next are the peer sets before and after: all of them for a
	// full map, only the peers a delta names otherwise, so that a delta
	// costs what it changes rather than the size of the fleet.
	next := v.Peers
	if !whole {
		next = mapview.Named(v.Peers, nm)
	}
	if len(t.routes) > 0 {
		old, next = t.routed(old), t.routed(next)
	}
	if err := t.reconcile(old, next, whole); err != nil {
		return err
	}
	if t.filter != nil && (nm.Self != nil || v.Self != nil && v.Self.Filter != nil) {
		// Rules name tags and machines: resolved again whenever the
		// peers or the rules change.
		var fl *wire.Filter
		if v.Self != nil {
			fl = v.Self.Filter
		}
		if err := t.filter.Update(fl, v.Peers, v.Self); err != nil {
			t.log.Warn("tunnel: some access rules could not be applied (they allow nothing)", "err", err)
		}
	}
	return nil
}

// SetRoutes makes each peer of byPeer (by ID) carry those subnet routes
// (and an exit node's default routes) besides its own addresses: its
// WireGuard allowed IPs, and the lazy index's, gain them, so packets to
// the routes go to it and packets from them are accepted from it. Only
// the peers whose routes change are configured again.
func (t *Tunnel) SetRoutes(byPeer map[string][]netip.Prefix) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := map[string]bool{}
	for id, ps := range byPeer {
		if !slices.Equal(ps, t.routes[id]) {
			ids[id] = true
		}
	}
	for id := range t.routes {
		if _, ok := byPeer[id]; !ok {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	old, next := map[string]wire.Peer{}, map[string]wire.Peer{}
	t.view.Read(func(v *wire.View) {
		for id := range ids {
			if p, ok := v.Peers[id]; ok {
				old[id], next[id] = withRoutes(p, t.routes[id]), withRoutes(p, byPeer[id])
			}
		}
	})
	t.routes = maps.Clone(byPeer)
	return t.reconcile(old, next, false)
}

// routed returns peers with the routes they carry added to their allowed
// IPs (a copy where any is added). t.mu is held.
func (t *Tunnel) routed(peers map[string]wire.Peer) map[string]wire.Peer {
	var out map[string]wire.Peer
	for id, ps := range t.routes {
		p, ok := peers[id]
		if !ok {
			continue
		}
		if out == nil {
			out = maps.Clone(peers)
		}
		out[id] = withRoutes(p, ps)
	}
	if out == nil {
		return peers
	}
	return out
}

func withRoutes(p wire.Peer, ps []netip.Prefix) wire.Peer {
	if len(ps) == 0 {
		return p
	}
	ips := make([]string, len(p.AllowedIPs), len(p.AllowedIPs)+len(ps))
	copy(ips, p.AllowedIPs)
	for _, r := range ps {
		ips = append(ips, r.String())
	}
	p.AllowedIPs = ips
	return p
}

// reconcile configures the device from old to next (see syncLocked).
// t.mu is held.
func (t *Tunnel) reconcile(old, next map[string]wire.Peer, whole bool) error {
	if t.paths != nil {
		// The bind must know every peer before wireguard-go parses its
		// synthetic endpoint.
		if whole {
			t.paths.SetPeers(pathPeers(next))
		} else {
			t.paths.UpdatePeers(pathPeers(next), goneKeys(old, next))
		}
	}
	var cfgs []wgtypes.PeerConfig
	var bad []string
	if t.lazy != nil {
		// Only peers configured in the device are configured again.
		oldActive, nextActive := t.activeSubset(old, next)
		bad = t.lazy.update(old, next)
		cfgs, _ = PeerConfigs(oldActive, nextActive, 0, t.endpointOf)
	} else {
		cfgs, bad = PeerConfigs(old, next, t.keepalive, t.endpointOf)
	}
	for _, id := range bad {
		t.log.Warn("tunnel: skipping peer with a bad key", "peer", id)
	}
	if len(cfgs) > 0 {
		if err := t.ctl.ConfigureDevice(t.name, wgtypes.Config{Peers: cfgs}); err != nil {
			return fmt.Errorf("tunnel: apply peers: %w", err)
		}
	}
	t.handshakeRekeyed(old, next)
	return nil
}

// handshakeRekeyed starts a handshake with every configured peer whose key
// just changed (it rotated its key). The peer swapped its key in when the
// server registered it; its own handshake to us may have arrived before
// this map and been refused, and WireGuard would retry only after 5 s.
// Either side's handshake lands once both have the new key, so together
// they bound the interruption by the time this map took to arrive.
func (t *Tunnel) handshakeRekeyed(old, next map[string]wire.Peer) {
	if t.dev == nil {
		return // a kernel device: WireGuard's own retry
	}
	for id, p := range next {
		prev, had := old[id]
		if !had || prev.PublicKey == p.PublicKey {
			continue
		}
		if t.lazy != nil {
			if lp := t.lazy.byID[id]; lp == nil || !lp.active.Load() {
				continue // idle: its next packet configures it and handshakes
			}
		}
		k, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			continue
		}
		if dp := t.dev.LookupPeer(device.NoisePublicKey(k)); dp != nil {
			dp.SendKeepalive() // no session yet: a handshake initiation goes first
		}
	}
}

// Filter returns the access policy's packet filter, nil for a kernel
// device (which cannot enforce it).
func (t *Tunnel) Filter() *filter.Filter { return t.filter }

// goneKeys lists the public keys of old that no peer of next has.
func goneKeys(old, next map[string]wire.Peer) []string {
	keys := make(map[string]bool, len(next))
	for _, p := range next {
		keys[p.PublicKey] = true
	}
	var gone []string
	for _, p := range old {
		if !keys[p.PublicKey] {
			gone = append(gone, p.PublicKey)
		}
	}
	return gone
}

// endpointOf is the endpoint a peer is configured with: its synthetic
// one under netpath, else the map's first usable address.
func (t *Tunnel) endpointOf(p wire.Peer) netip.AddrPort {
	if t.paths != nil {
		ap, _ := t.paths.Endpoint(p.PublicKey)
		return ap
	}
	return pickEndpoint(p.Endpoints)
}

func pathPeers(peers map[string]wire.Peer) []netpath.Peer {
	out := make([]netpath.Peer, 0, len(peers))
	for _, p := range peers {
		out = append(out, netpath.Peer{PublicKey: p.PublicKey, ID: p.ID, Name: p.Name, Endpoints: p.Endpoints})
	}
	return out
}

// PeerConfigs returns the device changes that turn the peer set old into
// next: removals first (sorted by peer ID), then additions and changes.
// A peer whose key changed is removed under the old key and added under
// the new one; a peer whose allowed IPs or chosen endpoint changed is
// updated in place (UpdateOnly, so a concurrent removal is not undone);
// a peer whose device configuration is unchanged is left alone. bad lists
// the IDs of peers with unusable keys, which are skipped. endpoint
// chooses a peer's configured endpoint (nil: the map's first usable
// address).
func PeerConfigs(old, next map[string]wire.Peer, keepalive time.Duration, endpoint func(wire.Peer) netip.AddrPort) (cfgs []wgtypes.PeerConfig, bad []string) {
	if endpoint == nil {
		endpoint = func(p wire.Peer) netip.AddrPort { return pickEndpoint(p.Endpoints) }
	}
	var removed, upserted []string
	for id := range old {
		if _, ok := next[id]; !ok {
			removed = append(removed, id)
		}
	}
	for id := range next {
		upserted = append(upserted, id)
	}
	sort.Strings(removed)
	sort.Strings(upserted)
	for _, id := range removed {
		if k, err := wgtypes.ParseKey(old[id].PublicKey); err == nil {
			cfgs = append(cfgs, wgtypes.PeerConfig{PublicKey: k, Remove: true})
		}
	}
	for _, id := range upserted {
		p := next[id]
		k, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			bad = append(bad, id)
			continue
		}
		prev, had := old[id]
		prevKey, prevErr := wgtypes.ParseKey(prev.PublicKey)
		switch {
		case had && prevErr == nil && prevKey == k:
			if sameDeviceConfig(prev, p, endpoint) {
				continue
			}
			pc := peerConfig(k, p, keepalive, endpoint)
			pc.UpdateOnly = true
			cfgs = append(cfgs, pc)
		case had && prevErr == nil:
			cfgs = append(cfgs, wgtypes.PeerConfig{PublicKey: prevKey, Remove: true}) // re-keyed
			cfgs = append(cfgs, peerConfig(k, p, keepalive, endpoint))
		default:
			cfgs = append(cfgs, peerConfig(k, p, keepalive, endpoint))
		}
	}
	return cfgs, bad
}

func peerConfig(k wgtypes.Key, p wire.Peer, keepalive time.Duration, endpoint func(wire.Peer) netip.AddrPort) wgtypes.PeerConfig {
	pc := wgtypes.PeerConfig{PublicKey: k, ReplaceAllowedIPs: true, AllowedIPs: allowedIPs(p)}
	if ep := endpoint(p); ep.IsValid() {
		pc.Endpoint = net.UDPAddrFromAddrPort(ep)
	}
	if keepalive > 0 {
		pc.PersistentKeepaliveInterval = &keepalive
	}
	return pc
}

// sameDeviceConfig reports whether two versions of a peer configure the
// device identically (its name, say, may differ).
func sameDeviceConfig(a, b wire.Peer, endpoint func(wire.Peer) netip.AddrPort) bool {
	if endpoint(a) != endpoint(b) || len(a.AllowedIPs) != len(b.AllowedIPs) {
		return false
	}
	for i := range a.AllowedIPs {
		if a.AllowedIPs[i] != b.AllowedIPs[i] {
			return false
		}
	}
	return true
}

func allowedIPs(p wire.Peer) []net.IPNet {
	var out []net.IPNet
	for _, pfx := range prefixes(p) {
		out = append(out, net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())})
	}
	return out
}

// prefixes returns a peer's allowed IPs, masked; unparsable ones are
// skipped (the server validates them).
func prefixes(p wire.Peer) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(p.AllowedIPs))
	for _, a := range p.AllowedIPs {
		if pfx, err := netip.ParsePrefix(a); err == nil {
			out = append(out, pfx.Masked())
		}
	}
	return out
}

// pickEndpoint chooses the endpoint to configure without netpath (the
// kernel backend): the first reachable-looking one wins. The agent lists
// its own interface addresses first and the server appends the address it
// observed.
func pickEndpoint(eps []string) netip.AddrPort {
	for _, e := range eps {
		if ap, err := netip.ParseAddrPort(e); err == nil && !ap.Addr().IsLoopback() {
			return ap
		}
	}
	return netip.AddrPort{}
}

// PeerStatus is what `status` shows of a peer.
type PeerStatus struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	PublicKey     string    `json:"public_key"`
	Endpoint      string    `json:"endpoint,omitempty"`
	AllowedIPs    []string  `json:"allowed_ips"`
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	RxBytes       int64     `json:"rx_bytes"`
	TxBytes       int64     `json:"tx_bytes"`
	// Path is how packets reach the peer: direct (to Endpoint) or relay;
	// with the kernel backend always direct.
	Path      string        `json:"path"`
	Latency   time.Duration `json:"latency_ns,omitempty"` // round trip of the last probe answer
	LastProbe time.Time     `json:"last_probe,omitzero"`
	// State is "active" (configured in the device) or "idle" (a lazy peer
	// without recent traffic: configured again on the first packet).
	State string `json:"state"`
}

// Peers returns the device's peers with handshake times and byte counts,
// read through wgctrl as `wg show` reads them.
func (t *Tunnel) Peers() ([]PeerStatus, error) {
	d, err := t.ctl.Device(t.name)
	if err != nil {
		return nil, fmt.Errorf("tunnel: read device: %w", err)
	}
	var byKey map[string]wire.Peer
	t.view.Read(func(v *wire.View) {
		byKey = make(map[string]wire.Peer, len(v.Peers))
		for _, p := range v.Peers {
			byKey[p.PublicKey] = p
		}
	})
	out := make([]PeerStatus, 0, len(byKey))
	for _, dp := range d.Peers {
		key := base64.StdEncoding.EncodeToString(dp.PublicKey[:])
		p := byKey[key]
		delete(byKey, key)
		ps := PeerStatus{ID: p.ID, Name: p.Name, PublicKey: key, RxBytes: dp.ReceiveBytes, TxBytes: dp.TransmitBytes, AllowedIPs: []string{}, State: "active"}
		if dp.Endpoint != nil {
			ps.Endpoint = dp.Endpoint.String()
		}
		ps.Path = "direct"
		if t.paths != nil {
			st, _ := t.paths.Path(key)
			ps.Path, ps.Endpoint, ps.Latency, ps.LastProbe = st.Path, st.Addr, st.Latency, st.LastProbe
		}
		for _, a := range dp.AllowedIPs {
			ps.AllowedIPs = append(ps.AllowedIPs, a.String())
		}
		if !dp.LastHandshakeTime.IsZero() && dp.LastHandshakeTime.Unix() > 0 {
			ps.LastHandshake = dp.LastHandshakeTime.UTC()
		}
		out = append(out, ps)
	}
	if t.lazy != nil {
		for key, p := range byKey {
			ps := PeerStatus{ID: p.ID, Name: p.Name, PublicKey: key, AllowedIPs: append([]string{}, p.AllowedIPs...), State: "idle"}
			st, _ := t.paths.Path(key)
			ps.Path, ps.Endpoint, ps.Latency, ps.LastProbe = st.Path, st.Addr, st.Latency, st.LastProbe
			out = append(out, ps)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close removes the interface and stops the UAPI socket.
func (t *Tunnel) Close() error {
	var errs []error
	if t.stopSweep != nil {
		close(t.stopSweep)
		t.stopSweep = nil
	}
	if t.paths != nil {
		t.paths.SetAdmit(nil)
	}
	if t.uapi != nil {
		errs = append(errs, t.uapi.Close())
	}
	if t.dev != nil {
		t.dev.Close() // closes the TUN too, which removes the interface
	}
	if t.closeLink != nil {
		errs = append(errs, t.closeLink())
	}
	if t.paths != nil {
		t.paths.Shutdown()
	}
	errs = append(errs, t.ctl.Close())
	return errors.Join(errs...)
}

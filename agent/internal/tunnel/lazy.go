package tunnel

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Lazy peers. With hundreds of peers, configuring each one in wireguard-go
// costs memory (queues, goroutines, timers per peer) and, with persistent
// keepalives, a steady trickle of handshakes. Under NAT traversal (the
// netpath bind) the agent instead configures a peer only when there is
// traffic for it and removes it again after a quiet period; the full map
// stays in the tunnel's view and in a compact index:
//
//   - outbound: the TUN read path looks up each packet's destination; a
//     packet for an idle peer waits (in that read, at most activateWait)
//     until the peer is configured, then goes on to wireguard-go, so the
//     first packet is not lost;
//   - inbound: the bind reads the sender's key from a handshake
//     initiation (named by the relay frame, or decrypted from the packet
//     as the Noise handshake does) and asks admit to configure the peer
//     before wireguard-go sees the packet;
//   - a sweep (one ticker for the agent, no per-peer timers) removes
//     peers whose byte counters have not moved for IdleAfter and whose last
//     handshake is older than WireGuard's session lifetime, so the remote
//     side cannot still hold a session we no longer know.
//
// No persistent keepalive is configured for lazy peers: it would keep
// every peer busy. NAT mappings do not need it, since netpath's relay
// carries the first packets toward an idle peer and its probes open the
// direct path again.

// Defaults of the lazy-peer timing.
const (
	DefaultIdleAfter = 5 * time.Minute
	// sessionLifetime is WireGuard's RejectAfterTime (180 s) with margin:
	// a peer removed later than this after its last handshake has no
	// keypair left on the other side either.
	sessionLifetime = 190 * time.Second
	activateWait    = time.Second
)

// lazyPeer is one peer of the map in the index.
type lazyPeer struct {
	id     string
	key    wgtypes.Key
	active atomic.Bool // configured in the device

	mu      sync.Mutex
	pending chan struct{} // non-nil while being configured

	// Sweep bookkeeping, under Tunnel.mu.
	rx, tx     int64
	quietSince time.Time
}

// lazyIndex finds peers by overlay address, allowed route and key.
type lazyIndex struct {
	mu     sync.RWMutex
	byID   map[string]*lazyPeer
	byKey  map[wgtypes.Key]*lazyPeer
	byAddr map[netip.Addr]*lazyPeer // host routes (/32, /128)
	routes []lazyRoute              // wider allowed IPs, searched on a miss
	active int                      // peers configured (under Tunnel.mu)
}

type lazyRoute struct {
	pfx netip.Prefix
	p   *lazyPeer
}

func newLazyIndex() *lazyIndex {
	return &lazyIndex{byID: map[string]*lazyPeer{}, byKey: map[wgtypes.Key]*lazyPeer{}, byAddr: map[netip.Addr]*lazyPeer{}}
}

// update brings the index in line with the map's peers going from old to
// next, touching only peers that changed, and returns the IDs of peers
// with unusable keys. Called with Tunnel.mu held; active peers the map
// removed are marked idle (the caller removes them from the device).
func (x *lazyIndex) update(old, next map[string]wire.Peer) (bad []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, p := range old {
		if _, ok := next[id]; !ok {
			if lp := x.byID[id]; lp != nil {
				x.unindex(lp, p)
				delete(x.byID, id)
				if lp.active.Swap(false) {
					x.active--
				}
			}
		}
	}
	for id, p := range next {
		prev, had := old[id]
		lp := x.byID[id]
		if had && lp != nil && prev.PublicKey == p.PublicKey && slices.Equal(prev.AllowedIPs, p.AllowedIPs) {
			continue
		}
		k, err := wgtypes.ParseKey(p.PublicKey)
		if err != nil {
			bad = append(bad, id)
			continue
		}
		if lp == nil {
			lp = &lazyPeer{id: id}
			x.byID[id] = lp
		} else {
			x.unindex(lp, prev)
		}
		lp.key = k
		x.byKey[k] = lp
		for _, pfx := range prefixes(p) {
			if pfx.IsSingleIP() {
				x.byAddr[pfx.Addr()] = lp
			} else {
				x.routes = append(x.routes, lazyRoute{pfx: pfx, p: lp})
			}
		}
	}
	return bad
}

// unindex removes p's addresses, routes and key from the index.
func (x *lazyIndex) unindex(lp *lazyPeer, p wire.Peer) {
	if x.byKey[lp.key] == lp {
		delete(x.byKey, lp.key)
	}
	wide := false
	for _, pfx := range prefixes(p) {
		if !pfx.IsSingleIP() {
			wide = true
		} else if x.byAddr[pfx.Addr()] == lp {
			delete(x.byAddr, pfx.Addr())
		}
	}
	if wide {
		x.routes = slices.DeleteFunc(x.routes, func(r lazyRoute) bool { return r.p == lp })
	}
}

// lookup returns the peer an overlay destination belongs to. Called with
// x.mu read-locked.
func (x *lazyIndex) lookup(dst netip.Addr) *lazyPeer {
	if lp := x.byAddr[dst]; lp != nil {
		return lp
	}
	var best *lazyPeer
	bits := -1
	for _, r := range x.routes {
		if r.pfx.Bits() > bits && r.pfx.Contains(dst) {
			best, bits = r.p, r.pfx.Bits()
		}
	}
	return best
}

// dstAddr returns an IP packet's destination.
func dstAddr(pkt []byte) (netip.Addr, bool) {
	if len(pkt) == 0 {
		return netip.Addr{}, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) >= 20 {
			return netip.AddrFrom4([4]byte(pkt[16:20])), true
		}
	case 6:
		if len(pkt) >= 40 {
			return netip.AddrFrom16([16]byte(pkt[24:40])), true
		}
	}
	return netip.Addr{}, false
}

// lazyTUN is the device's TUN, configuring idle peers that packets are
// read for before wireguard-go routes them.
type lazyTUN struct {
	tun.Device
	t      atomic.Pointer[Tunnel] // set once the tunnel exists
	closed chan struct{}
	once   sync.Once
}

func (l *lazyTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := l.Device.Read(bufs, sizes, offset)
	if t := l.t.Load(); t != nil && n > 0 {
		t.admitOutbound(bufs, sizes, offset, n, l.closed)
	}
	return n, err
}

func (l *lazyTUN) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Device.Close()
}

// admitOutbound configures the idle peers the first n packets are for and
// waits until they are (or closed, or activateWait).
func (t *Tunnel) admitOutbound(bufs [][]byte, sizes []int, offset, n int, closed <-chan struct{}) {
	var idle []*lazyPeer
	t.lazy.mu.RLock()
	for i := 0; i < n; i++ {
		dst, ok := dstAddr(bufs[i][offset : offset+sizes[i]])
		if !ok {
			continue
		}
		if lp := t.lazy.lookup(dst); lp != nil && !lp.active.Load() {
			idle = append(idle, lp)
		}
	}
	t.lazy.mu.RUnlock()
	t.waitActive(idle, closed)
}

// admitKey is netpath's admit hook: a packet from key arrived. An
// initiation waits for the peer to be configured; anything else (data of
// a session this side lost, e.g. in a restart) starts a handshake from
// here once it is, since wireguard-go drops it and the other side would
// wait 15 s before it initiates again.
func (t *Tunnel) admitKey(key [32]byte, initiation bool) <-chan struct{} {
	t.lazy.mu.RLock()
	lp := t.lazy.byKey[wgtypes.Key(key)]
	t.lazy.mu.RUnlock()
	if lp == nil || lp.active.Load() {
		return nil
	}
	ch := t.activate(lp)
	if initiation || ch == nil {
		return ch
	}
	go func() {
		<-ch
		if p := t.dev.LookupPeer(device.NoisePublicKey(lp.key)); p != nil {
			p.SendKeepalive() // no session: this sends a handshake initiation first
		}
	}()
	return nil
}

func (t *Tunnel) waitActive(idle []*lazyPeer, closed <-chan struct{}) {
	if len(idle) == 0 {
		return
	}
	var waits []<-chan struct{}
	for _, lp := range idle {
		if ch := t.activate(lp); ch != nil {
			waits = append(waits, ch)
		}
	}
	timeout := time.NewTimer(activateWait)
	defer timeout.Stop()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-closed:
			return
		case <-timeout.C:
			return
		}
	}
}

// Warm keeps the peers of ids ready to carry traffic at once: an idle
// (lazy) one is configured, and each is sent a keepalive, which starts a
// handshake when it has no session and keeps an active one from being
// swept. The engine warms the standbys of the routes it uses, so a
// failover does not wait for a first handshake (which one lost packet
// stretches to WireGuard's 5 s retry).
func (t *Tunnel) Warm(ids []string) {
	if t.dev == nil {
		return // a kernel device keeps every peer configured; WireGuard decides
	}
	for _, id := range ids {
		var key wgtypes.Key
		if t.lazy != nil {
			t.lazy.mu.RLock()
			lp := t.lazy.byID[id]
			if lp != nil {
				key = lp.key
			}
			t.lazy.mu.RUnlock()
			if lp == nil {
				continue
			}
			if ch := t.activate(lp); ch != nil {
				select {
				case <-ch:
				case <-time.After(activateWait):
					continue
				}
			}
		} else {
			p, ok := t.view.Peer(id)
			if !ok {
				continue
			}
			k, err := wgtypes.ParseKey(p.PublicKey)
			if err != nil {
				continue
			}
			key = k
		}
		if dp := t.dev.LookupPeer(device.NoisePublicKey(key)); dp != nil {
			dp.SendKeepalive()
		}
	}
}

// activate configures an idle peer in the device, once however many
// packets ask; the channel is closed when it is done.
func (t *Tunnel) activate(lp *lazyPeer) <-chan struct{} {
	lp.mu.Lock()
	if lp.active.Load() {
		lp.mu.Unlock()
		return nil
	}
	if lp.pending != nil {
		ch := lp.pending
		lp.mu.Unlock()
		return ch
	}
	ch := make(chan struct{})
	lp.pending = ch
	lp.mu.Unlock()
	go func() {
		defer func() {
			lp.mu.Lock()
			lp.pending = nil
			lp.mu.Unlock()
			close(ch)
		}()
		t.mu.Lock()
		defer t.mu.Unlock()
		p, ok := t.view.Peer(lp.id)
		if !ok || t.lazy.byID[lp.id] != lp || lp.active.Load() {
			return
		}
		p = withRoutes(p, t.routes[lp.id])
		pc := peerConfig(lp.key, p, 0, t.endpointOf)
		if err := t.dev.IpcSet(uapiPeer(pc)); err != nil {
			t.log.Warn("tunnel: configuring a peer on demand", "peer", p.Name, "err", err)
			return
		}
		lp.rx, lp.tx, lp.quietSince = 0, 0, time.Now()
		lp.active.Store(true)
		t.lazy.active++
		t.log.Debug("tunnel: peer active", "peer", p.Name)
	}()
	return ch
}

// uapiPeer writes one peer's configuration in wireguard-go's UAPI text,
// so an activation is one in-process call rather than a round trip over
// the UAPI socket.
func uapiPeer(pc wgtypes.PeerConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\n", hex.EncodeToString(pc.PublicKey[:]))
	if pc.Endpoint != nil {
		fmt.Fprintf(&b, "endpoint=%s\n", pc.Endpoint.AddrPort())
	}
	b.WriteString("replace_allowed_ips=true\n")
	for _, a := range pc.AllowedIPs {
		fmt.Fprintf(&b, "allowed_ip=%s\n", a.String())
	}
	return b.String()
}

// sweep removes the active peers that have been quiet for idleAfter.
func (t *Tunnel) sweep(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lazy.active == 0 {
		return
	}
	d, err := t.ctl.Device(t.name)
	if err != nil {
		return
	}
	var remove []wgtypes.PeerConfig
	var gone []*lazyPeer
	for _, dp := range d.Peers {
		t.lazy.mu.RLock()
		lp := t.lazy.byKey[dp.PublicKey]
		t.lazy.mu.RUnlock()
		if lp == nil || !lp.active.Load() {
			continue
		}
		if dp.ReceiveBytes != lp.rx || dp.TransmitBytes != lp.tx {
			lp.rx, lp.tx, lp.quietSince = dp.ReceiveBytes, dp.TransmitBytes, now
			continue
		}
		if now.Sub(lp.quietSince) >= t.idleAfter && now.Sub(dp.LastHandshakeTime) >= t.sessionLife {
			remove = append(remove, wgtypes.PeerConfig{PublicKey: dp.PublicKey, Remove: true})
			gone = append(gone, lp)
		}
	}
	if len(remove) == 0 {
		return
	}
	if err := t.ctl.ConfigureDevice(t.name, wgtypes.Config{Peers: remove}); err != nil {
		t.log.Warn("tunnel: removing idle peers", "err", err)
		return
	}
	for _, lp := range gone {
		lp.active.Store(false)
	}
	t.lazy.active -= len(gone)
	t.log.Debug("tunnel: idle peers removed from the device", "peers", len(gone), "active", t.lazy.active)
}

// runSweeps sweeps every idleAfter/4 until stop is closed.
func (t *Tunnel) runSweeps(stop <-chan struct{}) {
	tick := time.NewTicker(max(t.idleAfter/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			t.sweep(now)
		}
	}
}

// activeSubset returns the peers of old and next that are configured in
// the device, so a map change configures only those.
func (t *Tunnel) activeSubset(old, next map[string]wire.Peer) (map[string]wire.Peer, map[string]wire.Peer) {
	o, n := map[string]wire.Peer{}, map[string]wire.Peer{}
	active := func(id string) bool { lp := t.lazy.byID[id]; return lp != nil && lp.active.Load() }
	for id, p := range old {
		if active(id) {
			o[id] = p
		}
	}
	for id, p := range next {
		if active(id) {
			n[id] = p
		}
	}
	return o, n
}

// Package netpath gets WireGuard packets to each peer by the best path
// there is: straight over UDP when the two machines can reach each other
// (same LAN, a public address, or a hole punched through endpoint-
// independent NATs), else through the server's relay over the HTTPS
// port (symmetric NATs, networks that block UDP).
//
// Bind is a conn.Bind for wireguard-go. Each peer is configured with a
// synthetic endpoint (an address in fd00::/8 derived from its key, which
// wgctrl can carry) that Bind resolves per packet:
//
//   - packets go through the relay at once, so a tunnel works from the
//     first packet;
//   - meanwhile Bind pings every candidate address of the peer (its
//     interface addresses, the reflexive address STUN told it, the
//     address the server saw) and asks the peer, through the relay, to
//     ping back, so both NATs open at the same time; the first address
//     that answers becomes the path;
//   - while packets flow the path is pinged every second; when it stops
//     answering for 2.5 s the relay carries the packets again and probing
//     resumes, backing off to every 8 s;
//   - when nothing flows, nothing is sent: no timers per peer.
//
// Pings and pongs share the WireGuard socket (so they test exactly the
// path WireGuard will use) and are authenticated with a key derived from
// the two peers' WireGuard keys. STUN answers arrive on the same socket
// too. The relay only ever carries WireGuard ciphertext and probe calls.
package netpath

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/stun"
)

// Options configure a Bind.
type Options struct {
	PrivateKey [32]byte // the WireGuard private key: probe MACs are derived from it
	Relay      Dialer   // nil: no relay
	Log        *slog.Logger
	// OnReflexive is called (from a receive goroutine) when STUN reports a
	// new reflexive address, so the agent can tell the server.
	OnReflexive func(netip.AddrPort)
	// STUNEvery is how often the reflexive address is refreshed (default 20 s).
	STUNEvery time.Duration
	// Tunneled reports that packets to an address would go into the
	// tunnel itself (the overlay, a subnet route through a peer): never a
	// direct path. Probing a router's LAN address through the tunnel
	// once taught a client the router's overlay address as its "direct"
	// path, and its packets then looped into the tunnel. Nil: none.
	Tunneled func(netip.Addr) bool
}

// Bind is a conn.Bind choosing a path per peer.
type Bind struct {
	inner conn.Bind
	opts  Options
	log   *slog.Logger
	ident atomic.Pointer[identity] // replaced by SetPrivateKey
	now   func() time.Time

	relay  *relayClient
	fromRe chan relayed
	admit  atomic.Pointer[AdmitFunc]

	mu       sync.RWMutex
	peers    map[relayframe.Key]*peer
	byID     map[string]*peer // by machine ID, for key rotations
	bySynth  map[netip.AddrPort]*peer
	bySource map[netip.AddrPort]*peer // peers' map addresses and confirmed paths
	done     chan struct{}            // closed by Close; per Open
	stunSrv  string                   // host:port
	relayOn  bool                     // the server relays

	// Peer relays (peerrelay.go): this machine's relay role, the relays it
	// may use, and the sessions they gave it, by relay address and index.
	rs           *relayServer
	relays       map[relayframe.Key]*knownRelay
	byRelayAddr  map[netip.AddrPort]*knownRelay
	byRelayIndex map[relayIndex]*peer

	stunMu    sync.Mutex
	stunTx    stun.TxID
	stunSent  time.Time
	reflexive netip.AddrPort

	counters struct {
		directTx, relayTx, peerRelayTx, dropped, badDisco atomic.Uint64
	}
}

// identity is our WireGuard key and what is derived from it.
type identity struct {
	priv, pub relayframe.Key
	resp      *responder
}

func newIdentity(priv [32]byte) (*identity, error) {
	pub, err := publicKey(priv)
	if err != nil {
		return nil, err
	}
	return &identity{priv: priv, pub: pub, resp: newResponder(priv, pub)}, nil
}

func (b *Bind) id() *identity { return b.ident.Load() }

// SetPrivateKey swaps in a rotated WireGuard key (the device's is set
// beside it): probes and initiations are checked against the new one.
func (b *Bind) SetPrivateKey(priv [32]byte) error {
	id, err := newIdentity(priv)
	if err != nil {
		return err
	}
	b.ident.Store(id)
	b.rs.mu.Lock()
	clear(b.rs.macs) // derived from the old key
	b.rs.mu.Unlock()
	return nil
}

type relayed struct {
	from relayframe.Key
	data []byte
}

// New wraps inner (conn.NewDefaultBind()).
func New(inner conn.Bind, opts Options) (*Bind, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.STUNEvery <= 0 {
		opts.STUNEvery = 20 * time.Second
	}
	id, err := newIdentity(opts.PrivateKey)
	if err != nil {
		return nil, err
	}
	b := &Bind{inner: inner, opts: opts, log: opts.Log, now: time.Now,
		peers: map[relayframe.Key]*peer{}, byID: map[string]*peer{}, bySynth: map[netip.AddrPort]*peer{}, bySource: map[netip.AddrPort]*peer{}, fromRe: make(chan relayed, 256),
		rs: &relayServer{}, relays: map[relayframe.Key]*knownRelay{}, byRelayAddr: map[netip.AddrPort]*knownRelay{}, byRelayIndex: map[relayIndex]*peer{}}
	b.ident.Store(id)
	if opts.Relay != nil {
		b.relay = newRelayClient(opts.Relay, opts.Log, b.fromRelay)
	}
	return b, nil
}

// AdmitFunc is told the key of a peer a packet just came from, before
// wireguard-go sees it: for every handshake initiation, and for other
// packets when the sender is known (a relay frame names it, or the source
// is one of its addresses). When the peer is not configured in the device
// (an idle lazy peer) it configures it and, for an initiation, returns a
// channel closed when done: the packet is delivered after that (or after
// admitWait). For other packets (data of a session this side no longer
// has, say after a restart) it starts a handshake instead. Nil when there
// is nothing to wait for.
type AdmitFunc func(key [32]byte, initiation bool) <-chan struct{}

// admitWait bounds how long a receive waits for a peer to be configured.
const admitWait = time.Second

// SetAdmit installs the lazy-peer hook (nil removes it).
func (b *Bind) SetAdmit(fn AdmitFunc) {
	if fn == nil {
		b.admit.Store(nil)
		return
	}
	b.admit.Store(&fn)
}

// admitInitiations runs the admit hook for the packets whose sender it
// can tell (from is the sender a relay frame names, or nil: read the key
// from an initiation, or look up the source in eps) and waits until the
// peers of initiations are configured.
func (b *Bind) admitInitiations(pkts [][]byte, sizes []int, eps []conn.Endpoint, n int, from *relayframe.Key, done <-chan struct{}) {
	fn := b.admit.Load()
	if fn == nil {
		return
	}
	var waits []<-chan struct{}
	var lastSrc netip.AddrPort
	for i := 0; i < n; i++ {
		pkt := pkts[i][:sizes[i]]
		init := isHandshake(pkt, 1, initLen)
		var key [32]byte
		switch {
		case from != nil:
			key = *from
		case init:
			k, ok := b.id().resp.initiator(pkt)
			if !ok {
				continue // not for us: wireguard-go drops it
			}
			key = k
		case len(pkt) >= 32 && pkt[0] == 4 && eps != nil:
			// Transport data: known by its source, once per batch.
			src := addrOf(eps[i])
			if src == lastSrc {
				continue
			}
			lastSrc = src
			b.mu.RLock()
			p := b.bySource[src]
			if p != nil && b.peers[p.key] != p {
				p = nil // a source noted for a peer since forgotten
			}
			b.mu.RUnlock()
			if p == nil {
				continue
			}
			key = p.key
		default:
			continue
		}
		if ch := (*fn)(key, init); ch != nil {
			waits = append(waits, ch)
		}
	}
	if len(waits) == 0 {
		return
	}
	timeout := time.NewTimer(admitWait)
	defer timeout.Stop()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-done:
			return
		case <-timeout.C:
			return
		}
	}
}

// SetServer applies what the network map says of the server: its STUN
// address ("" = none) and whether it relays. Idempotent.
func (b *Bind) SetServer(stunAddr string, relays bool) {
	b.mu.Lock()
	startRelay := relays && !b.relayOn && b.relay != nil
	stopRelay := !relays && b.relayOn && b.relay != nil
	b.relayOn = relays && b.relay != nil
	changedSTUN := b.stunSrv != stunAddr
	b.stunSrv = stunAddr
	b.mu.Unlock()
	if startRelay {
		b.relay.start()
	}
	if stopRelay {
		b.relay.stop()
	}
	if changedSTUN && stunAddr != "" {
		go b.querySTUN() // resolves a name; the socket may not be open yet (then Open asks)
	}
}

// Peer is a peer's identity and the addresses the map lists for it.
type Peer struct {
	PublicKey string // base64
	ID        string // the machine's ID: a new key under the same ID keeps the confirmed path
	Name      string
	Endpoints []string // ip:port candidates, best first
}

// SetPeers replaces the peer set. Peers not listed are forgotten.
func (b *Bind) SetPeers(ps []Peer) { b.updatePeers(ps, nil, true) }

// UpdatePeers adds or updates the peers in upsert and forgets those with
// the base64 keys in removed; peers named in neither are left alone (a
// map delta touches only its peers). A peer whose name and map addresses
// are unchanged keeps its probe schedule.
func (b *Bind) UpdatePeers(upsert []Peer, removed []string) { b.updatePeers(upsert, removed, false) }

func (b *Bind) updatePeers(ps []Peer, removed []string, replace bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keep map[relayframe.Key]bool
	if replace {
		keep = make(map[relayframe.Key]bool, len(ps))
	}
	for _, in := range ps {
		k, err := parseKey(in.PublicKey)
		if err != nil {
			continue
		}
		if keep != nil {
			keep[k] = true
		}
		eps := parseCandidates(in.Endpoints)
		p := b.peers[k]
		if p == nil {
			p = &peer{key: k, id: in.ID}
			p.ep = &endpoint{p: p, synth: Synthetic(k)}
			if old := b.byID[in.ID]; in.ID != "" && old != nil && old.key != k {
				// The machine rotated its key: the address its packets
				// came from is still where it is, so its new key starts
				// on the confirmed path instead of waiting for probes.
				p.inherit(old)
				b.forget(old)
				if keep != nil {
					delete(keep, old.key)
				}
			}
			b.peers[k] = p
			b.bySynth[p.ep.synth] = p
			if in.ID != "" {
				b.byID[in.ID] = p
			}
		} else if p.name == in.Name && p.fromMapEqual(eps) {
			continue
		}
		b.forgetSources(p)
		p.name = in.Name
		p.setCandidates(eps)
		for _, a := range p.candidateList() {
			b.bySource[a] = p
		}
	}
	for k, p := range b.peers {
		if keep != nil && !keep[k] {
			b.forget(p)
		}
	}
	for _, s := range removed {
		if k, err := parseKey(s); err == nil && b.peers[k] != nil {
			b.forget(b.peers[k])
		}
	}
}

// forget drops p from every index. Called with b.mu held.
func (b *Bind) forget(p *peer) {
	delete(b.peers, p.key)
	delete(b.bySynth, p.ep.synth)
	if b.byID[p.id] == p {
		delete(b.byID, p.id)
	}
	b.forgetSources(p)
}

// forgetSources drops the source addresses recorded for p (its
// candidates; sources noted from its traffic are learned candidates, or
// are checked against b.peers where they are used). Called with b.mu held.
func (b *Bind) forgetSources(p *peer) {
	for _, a := range p.candidateList() {
		if b.bySource[a] == p {
			delete(b.bySource, a)
		}
	}
}

// Synthetic returns the endpoint address a peer is configured with: fd
// followed by the first 15 bytes of its key, port 1. It only names the
// peer; Bind decides where its packets go.
func Synthetic(k relayframe.Key) netip.AddrPort {
	var a [16]byte
	a[0] = 0xfd
	copy(a[1:], k[:15])
	return netip.AddrPortFrom(netip.AddrFrom16(a), 1)
}

// Endpoint returns the synthetic endpoint for a base64 public key.
func (b *Bind) Endpoint(publicKey string) (netip.AddrPort, bool) {
	k, err := parseKey(publicKey)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return Synthetic(k), true
}

// Path returns the path status of the peer with this base64 public key.
func (b *Bind) Path(publicKey string) (PathStatus, bool) {
	k, err := parseKey(publicKey)
	if err != nil {
		return PathStatus{}, false
	}
	b.mu.RLock()
	p := b.peers[k]
	b.mu.RUnlock()
	if p == nil {
		return PathStatus{}, false
	}
	return p.status(b.now(), b.relayUp()), true
}

// Status describes the relay connection and the reflexive address.
type Status struct {
	Relay     *RelayStatus `json:"relay,omitempty"`
	STUN      string       `json:"stun,omitempty"`
	Reflexive string       `json:"reflexive,omitempty"`
	DirectTx  uint64       `json:"direct_tx_packets"`
	RelayTx   uint64       `json:"relay_tx_packets"`
	// PeerRelayTx counts packets sent through peer relays; PeerRelay is
	// this machine's relaying for others (nil: it is no relay).
	PeerRelayTx uint64           `json:"peer_relay_tx_packets,omitempty"`
	PeerRelay   *PeerRelayStatus `json:"peer_relay,omitempty"`
	Dropped     uint64           `json:"dropped_packets"`
	BadProbes   uint64           `json:"bad_probes"` // probe messages that did not parse or verify
}

// Status reports the bind's state for `status`.
func (b *Bind) Status() Status {
	b.mu.RLock()
	st := Status{STUN: b.stunSrv}
	on := b.relayOn
	b.mu.RUnlock()
	if on {
		rs := b.relay.status()
		st.Relay = &rs
	}
	if r := b.Reflexive(); r.IsValid() {
		st.Reflexive = r.String()
	}
	st.DirectTx, st.RelayTx, st.Dropped = b.counters.directTx.Load(), b.counters.relayTx.Load(), b.counters.dropped.Load()
	st.BadProbes = b.counters.badDisco.Load()
	st.PeerRelayTx = b.counters.peerRelayTx.Load()
	st.PeerRelay = b.peerRelayStatus()
	return st
}

// Reflexive returns the address STUN last reported.
func (b *Bind) Reflexive() netip.AddrPort {
	b.stunMu.Lock()
	defer b.stunMu.Unlock()
	return b.reflexive
}

func (b *Bind) relayUsable(now time.Time) bool {
	b.mu.RLock()
	on := b.relayOn
	b.mu.RUnlock()
	return on && b.relay.usable(now)
}

func (b *Bind) relayUp() bool {
	b.mu.RLock()
	on := b.relayOn
	b.mu.RUnlock()
	return on && b.relay.connected()
}

// --- conn.Bind ---

// Open opens the UDP socket and returns its receive functions plus one
// for relayed packets.
func (b *Bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, actual, err := b.inner.Open(port)
	if err != nil {
		return nil, 0, err
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.done = done
	b.mu.Unlock()
	out := make([]conn.ReceiveFunc, 0, len(fns)+1)
	for _, fn := range fns {
		out = append(out, b.wrapReceive(fn, done))
	}
	out = append(out, b.receiveRelayed(done))
	go b.stunLoop(done)
	return out, actual, nil
}

// Close closes the socket; the relay connection stays (Open follows a
// Close when wireguard-go changes port).
func (b *Bind) Close() error {
	b.mu.Lock()
	if b.done != nil {
		close(b.done)
		b.done = nil
	}
	b.mu.Unlock()
	return b.inner.Close()
}

// Shutdown closes the relay connection for good.
func (b *Bind) Shutdown() {
	b.mu.Lock()
	on := b.relayOn
	b.relayOn = false
	b.mu.Unlock()
	if on {
		b.relay.stop()
	}
}

// SetMark passes the socket mark on.
func (b *Bind) SetMark(mark uint32) error { return b.inner.SetMark(mark) }

// BatchSize is the inner bind's.
func (b *Bind) BatchSize() int { return b.inner.BatchSize() }

// ParseEndpoint resolves a peer's synthetic endpoint; any other address
// is a plain UDP endpoint.
func (b *Bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("netpath: endpoint %q: %w", s, err)
	}
	b.mu.RLock()
	p := b.bySynth[ap]
	b.mu.RUnlock()
	if p != nil {
		return p.ep, nil
	}
	return b.inner.ParseEndpoint(s)
}

// Send sends packets to a peer by its current path.
func (b *Bind) Send(bufs [][]byte, ep conn.Endpoint) error {
	switch e := ep.(type) {
	case *endpoint:
		return b.sendPeer(bufs, e.p)
	case *relayEndpoint:
		if b.relayUsable(b.now()) {
			b.counters.relayTx.Add(uint64(len(bufs)))
			return b.relay.send(e.key, bufs)
		}
		return nil
	default:
		return b.inner.Send(bufs, ep)
	}
}

func (b *Bind) sendPeer(bufs [][]byte, p *peer) error {
	now := b.now()
	relayUp := b.relayUsable(now)
	d := p.decide(now, relayUp)
	p.hold(bufs, now)
	switch {
	case d.broke:
		b.log.Info("direct path to peer stopped answering", "peer", p.name, "path", d.pathChanged)
	case d.pathChanged != "":
		b.log.Debug("path to peer", "peer", p.name, "path", d.pathChanged)
	}
	var err error
	switch {
	case d.direct.IsValid():
		if e := b.send(bufs, p, d.direct); e != nil && !d.relay {
			err = e
		}
		b.counters.directTx.Add(uint64(len(bufs)))
	case d.via != nil:
		index, ep := viaOf(p, d.via)
		err = b.sendVia(bufs, index, ep)
		b.counters.peerRelayTx.Add(uint64(len(bufs)))
	case d.guess.IsValid():
		err = b.send(bufs, p, d.guess)
		b.counters.directTx.Add(uint64(len(bufs)))
	case !d.relay:
		b.counters.dropped.Add(uint64(len(bufs)))
	}
	if d.relay {
		b.counters.relayTx.Add(uint64(len(bufs)))
		if e := b.relay.send(p.key, bufs); e != nil {
			err = e
		}
	}
	if d.heartbeat {
		b.ping(p, d.direct)
	}
	if d.probe {
		for _, a := range p.candidateList() {
			if a != d.direct || !d.heartbeat {
				b.ping(p, a)
			}
		}
	}
	if d.call {
		b.sendCall(p)
	}
	switch {
	case d.probe:
		b.probeRelays(p, now)
	case d.rebind:
		b.bindRelays(p, now)
	}
	if d.viaPing {
		b.pingVia(p, d.via)
	}
	return err
}

// send writes packets to a UDP address, caching its parsed endpoint.
func (b *Bind) send(bufs [][]byte, p *peer, a netip.AddrPort) error {
	p.mu.Lock()
	ep := p.eps[a]
	p.mu.Unlock()
	if ep == nil {
		var err error
		if ep, err = b.inner.ParseEndpoint(a.String()); err != nil {
			return err
		}
		p.mu.Lock()
		if p.eps == nil || len(p.eps) > 4*maxCandidates {
			p.eps = map[netip.AddrPort]conn.Endpoint{}
		}
		p.eps[a] = ep
		p.mu.Unlock()
	}
	return b.inner.Send(bufs, ep)
}

func (b *Bind) macKey(p *peer) ([32]byte, bool) {
	id := b.id()
	p.macMu.Lock()
	defer p.macMu.Unlock()
	if p.macFor != id {
		k, err := discoKey(id.priv, p.key)
		p.mac, p.macOK, p.macFor = k, err == nil, id
	}
	return p.mac, p.macOK
}

func (b *Bind) ping(p *peer, a netip.AddrPort) {
	key, ok := b.macKey(p)
	if !ok || !a.IsValid() || b.tunneled(a) {
		return
	}
	m := discoMsg{typ: discoPing, sender: b.id().pub}
	rand.Read(m.tx[:])
	p.addPing(m.tx, a, b.now())
	_ = b.send([][]byte{appendDisco(nil, m, key)}, p, a)
}

func (b *Bind) sendCall(p *peer) {
	key, ok := b.macKey(p)
	if !ok {
		return
	}
	m := discoMsg{typ: discoCall, sender: b.id().pub}
	rand.Read(m.tx[:])
	_ = b.relay.send(p.key, [][]byte{appendDisco(nil, m, key)})
}

// --- receiving ---

func (b *Bind) wrapReceive(fn conn.ReceiveFunc, done <-chan struct{}) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, err := fn(packets, sizes, eps)
		b.peerRelayReceive(packets, sizes, eps, n)
		b.admitInitiations(packets, sizes, eps, n, nil, done)
		for i := 0; i < n; i++ {
			pkt := packets[i][:sizes[i]]
			switch {
			case isDisco(pkt):
				b.handleDisco(pkt, addrOf(eps[i]), false, nil)
				sizes[i] = 0 // wireguard-go skips packets shorter than any of its messages
			case stun.Is(pkt):
				b.handleSTUN(pkt)
				sizes[i] = 0
			}
		}
		return n, err
	}
}

// tunneled reports whether a is reached through the tunnel itself.
func (b *Bind) tunneled(a netip.AddrPort) bool {
	return b.opts.Tunneled != nil && a.IsValid() && b.opts.Tunneled(a.Addr().Unmap())
}

// noteSource records that packets from a come from p (see admitInitiations).
func (b *Bind) noteSource(a netip.AddrPort, p *peer) {
	if !a.IsValid() || b.tunneled(a) {
		return
	}
	b.mu.RLock()
	known := b.bySource[a] == p
	b.mu.RUnlock()
	if !known {
		b.mu.Lock()
		if b.peers[p.key] == p {
			b.bySource[a] = p
		}
		b.mu.Unlock()
	}
}

func addrOf(ep conn.Endpoint) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(ep.DstToString())
	return ap
}

// fromRelay is the relay client's delivery: packets for wireguard-go
// and probe calls.
func (b *Bind) fromRelay(f relayframe.Frame) {
	switch f.Type {
	case relayframe.TypeNoPeer:
		b.mu.RLock()
		p := b.peers[f.Key]
		b.mu.RUnlock()
		if p != nil {
			p.mu.Lock()
			p.noRelayUntil = b.now().Add(noRelayFor)
			p.mu.Unlock()
		}
	case relayframe.TypePresent:
		b.mu.RLock()
		p := b.peers[f.Key]
		b.mu.RUnlock()
		if p == nil {
			return
		}
		if p.present(b.now()) {
			time.AfterFunc(presentDelay, func() {
				if init := p.resendDue(b.now()); init != nil && b.relayUsable(b.now()) {
					b.log.Debug("relay: peer connected, resending our handshake", "peer", p.name)
					b.counters.relayTx.Add(1)
					_ = b.relay.send(p.key, [][]byte{init})
				}
			})
		}
	case relayframe.TypeRecv:
		if isDisco(f.Payload) {
			b.handleDisco(f.Payload, netip.AddrPort{}, true, nil)
			return
		}
		select {
		case b.fromRe <- relayed{from: f.Key, data: f.Payload}:
		default:
			b.counters.dropped.Add(1)
		}
	}
}

func (b *Bind) receiveRelayed(done chan struct{}) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n := 0
		select {
		case <-done:
			return 0, net.ErrClosed
		case r := <-b.fromRe:
			n = b.takeRelayed(r, packets, sizes, eps, n, done)
		}
		for n < len(packets) {
			select {
			case r := <-b.fromRe:
				n = b.takeRelayed(r, packets, sizes, eps, n, done)
			default:
				return n, nil
			}
		}
		return n, nil
	}
}

func (b *Bind) takeRelayed(r relayed, packets [][]byte, sizes []int, eps []conn.Endpoint, n int, done <-chan struct{}) int {
	if len(r.data) > len(packets[n]) {
		b.counters.dropped.Add(1)
		return n
	}
	sizes[n] = copy(packets[n], r.data)
	b.admitInitiations(packets[n:], sizes[n:], nil, 1, &r.from, done)
	b.mu.RLock()
	p := b.peers[r.from]
	b.mu.RUnlock()
	if p != nil {
		eps[n] = p.ep
	} else {
		eps[n] = &relayEndpoint{key: r.from}
	}
	return n + 1
}

// handleDisco answers pings, records pongs and acts on calls. from is
// the UDP source (invalid for a call through the relay); via is the peer
// relay path it came through (nil: none).
func (b *Bind) handleDisco(pkt []byte, from netip.AddrPort, viaRelay bool, via *relayPath) {
	m, err := parseDisco(pkt)
	if err != nil {
		b.counters.badDisco.Add(1)
		return
	}
	b.mu.RLock()
	p := b.peers[m.sender]
	b.mu.RUnlock()
	if p == nil {
		b.counters.badDisco.Add(1)
		return
	}
	key, ok := b.macKey(p)
	if !ok || !verifyDisco(pkt, key) {
		b.counters.badDisco.Add(1)
		return
	}
	now := b.now()
	switch {
	case via != nil:
		b.discoViaRelay(p, m, key, via, now)
	case !viaRelay && b.tunneled(from):
		// It came through the tunnel: not a path to the peer (and any
		// answer would go back into the tunnel).
		b.counters.badDisco.Add(1)
	case m.typ == discoPing && !viaRelay && from.IsValid():
		pong := discoMsg{typ: discoPong, sender: b.id().pub, tx: m.tx}
		_ = b.send([][]byte{appendDisco(nil, pong, key)}, p, from)
		p.learn(from)
		b.noteSource(from, p)
		// Ping back at once: the peer's NAT now has a mapping toward us,
		// so our ping gets through and both sides confirm the path.
		p.mu.Lock()
		due := !(p.best == from && now.Sub(p.lastPong) < trustFor) && now.Sub(p.lastPingBack) >= probeMin/2
		if due {
			p.lastPingBack = now
		}
		p.mu.Unlock()
		if due {
			b.ping(p, from)
		}
	case m.typ == discoPong && !viaRelay:
		p.gotPong(m.tx, now) // the next packet's decision logs a new path
		b.noteSource(from, p)
	case m.typ == discoCall && viaRelay:
		p.mu.Lock()
		due := now.Sub(p.lastProbe) >= probeMin/2
		if due {
			p.lastProbe = now
		}
		p.mu.Unlock()
		if due {
			for _, a := range p.candidateList() {
				b.ping(p, a)
			}
			b.probeRelays(p, now) // bind too: the caller's relays need both ends
		}
	default:
		b.counters.badDisco.Add(1)
	}
}

// --- STUN ---

func (b *Bind) stunLoop(done chan struct{}) {
	// Ask at once, then every second until answered, then every STUNEvery.
	for {
		b.querySTUN()
		b.mu.RLock()
		on := b.stunSrv != ""
		b.mu.RUnlock()
		wait := b.opts.STUNEvery
		if on && !b.Reflexive().IsValid() {
			wait = time.Second
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
	}
}

func (b *Bind) querySTUN() {
	b.mu.RLock()
	srv := b.stunSrv
	b.mu.RUnlock()
	if srv == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	host, port, err := net.SplitHostPort(srv)
	if err != nil {
		return
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		b.log.Debug("stun: resolve", "server", srv, "err", err)
		return
	}
	ap, err := netip.ParseAddrPort(net.JoinHostPort(ips[0].Unmap().String(), port))
	if err != nil {
		return
	}
	ep, err := b.inner.ParseEndpoint(ap.String())
	if err != nil {
		return
	}
	tx := stun.NewTxID()
	b.stunMu.Lock()
	b.stunTx, b.stunSent = tx, b.now()
	b.stunMu.Unlock()
	_ = b.inner.Send([][]byte{stun.Request(tx)}, ep)
}

func (b *Bind) handleSTUN(pkt []byte) {
	tx, addr, err := stun.ParseAnswer(pkt)
	if err != nil {
		return
	}
	b.stunMu.Lock()
	if tx != b.stunTx {
		b.stunMu.Unlock()
		return
	}
	changed := addr != b.reflexive
	b.reflexive = addr
	b.stunMu.Unlock()
	if changed {
		b.log.Info("stun: reflexive address", "addr", addr.String())
		if b.opts.OnReflexive != nil {
			b.opts.OnReflexive(addr)
		}
	}
}

// --- endpoints ---

// endpoint is a peer's synthetic endpoint.
type endpoint struct {
	p     *peer
	synth netip.AddrPort
}

func (e *endpoint) ClearSrc()           {}
func (e *endpoint) SrcToString() string { return "" }
func (e *endpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e *endpoint) DstIP() netip.Addr   { return e.synth.Addr() }
func (e *endpoint) DstToBytes() []byte  { b, _ := e.synth.MarshalBinary(); return b }

// DstToString is what `wg show` prints: the direct address in use, else
// the synthetic one.
func (e *endpoint) DstToString() string {
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if e.p.best.IsValid() {
		return e.p.best.String()
	}
	return e.synth.String()
}

// relayEndpoint is the source of a relayed packet from a key that is not
// (yet) a peer.
type relayEndpoint struct{ key relayframe.Key }

func (e *relayEndpoint) ClearSrc()           {}
func (e *relayEndpoint) SrcToString() string { return "" }
func (e *relayEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e *relayEndpoint) DstIP() netip.Addr   { return Synthetic(e.key).Addr() }
func (e *relayEndpoint) DstToBytes() []byte  { return e.key[:] }
func (e *relayEndpoint) DstToString() string { return Synthetic(e.key).String() }

// --- helpers ---

func parseKey(s string) (relayframe.Key, error) {
	var k relayframe.Key
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != relayframe.KeyLen {
		return k, errors.New("netpath: bad public key")
	}
	copy(k[:], b)
	return k, nil
}

func parseCandidates(eps []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, e := range eps {
		ap, err := netip.ParseAddrPort(e)
		if err != nil || ap.Addr().IsLoopback() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if !contains(out, ap) && len(out) < maxCandidates {
			out = append(out, ap)
		}
	}
	return out
}

func publicKey(priv [32]byte) (relayframe.Key, error) {
	var k relayframe.Key
	pub, err := curve25519X25519Base(priv)
	if err != nil {
		return k, fmt.Errorf("netpath: public key: %w", err)
	}
	copy(k[:], pub)
	return k, nil
}

package netpath

// Peer relays. A machine the policy names in "relays" forwards WireGuard
// packets between two others over UDP on its own WireGuard socket, so
// that a pair that cannot go direct (both behind symmetric NATs) need not
// send every packet through the server. It forwards ciphertext: the
// packets stay end-to-end encrypted between the two peers, and the probe
// messages inside are authenticated with the key only those two share, so
// a relay can neither read nor inject traffic.
//
// A peer binds to a relay for one of its peers: it proves its identity
// with a MAC under a key derived from its WireGuard key and the relay's
// (static X25519, as the probes do), with a timestamp that must grow (a
// replayed bind from elsewhere cannot steal the binding). The relay asks
// the server once per pair and half-minute whether the two may use it
// (both in the map, and the policy lets them reach each other), binds the
// sender's address to the pair's session, and answers with the session's
// index. Once both ends are bound, each sends packets for the other to the
// relay prefixed with the index; the relay passes them to the other end's
// address as they are. Peers probe the relayed path as they probe direct
// ones (pings through the relay, answered through the relay), and use it
// when no direct path answers, before the server's relay.
//
//	bind:  "WFB1" | sender key | peer key | timestamp (8) | MAC (16)   peer → relay
//	bound: "WFB2" | peer key | timestamp (8) | index (2) | ready (1) | MAC (16)   relay → peer
//	data:  0xF1 | index (2) | WireGuard packet or probe   both ways

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/time/rate"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

const (
	bindMagic   = "WFB1"
	boundMagic  = "WFB2"
	relayData   = 0xF1
	relayHeader = 3
	bindBody    = len(bindMagic) + 2*relayframe.KeyLen + 8
	bindLen     = bindBody + macLen
	boundBody   = len(boundMagic) + relayframe.KeyLen + 8 + 2 + 1
	boundLen    = boundBody + macLen

	// bindSkew is how far a bind's timestamp may be from the relay's clock.
	bindSkew = 2 * time.Minute
	// verdictFor is how long the server's answer for a pair is kept.
	verdictFor = 30 * time.Second
	// sessionIdle ends a relay session nothing crossed for this long.
	sessionIdle = 2 * time.Minute
	// maxRelaySessions bounds a relay's sessions (and its verdicts).
	maxRelaySessions = 4096
	// rebindEvery keeps a relayed path's bindings (and NAT mappings) fresh
	// while it carries packets.
	rebindEvery = 10 * time.Second
	// bindRate bounds the binds a relay checks a second from senders it
	// has not verified before (each costs an X25519).
	bindRate = 2000
	// DefaultPairRate is what one pair may send through a relay, bytes/s.
	DefaultPairRate = 125e6
)

// relayKey derives the MAC key a peer and a relay share.
func relayKey(priv, pub relayframe.Key) ([32]byte, bool) {
	shared, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return [32]byte{}, false
	}
	return blake2s.Sum256(append([]byte("wirefleet peer relay v1 "), shared...)), true
}

func isBind(b []byte) bool  { return len(b) == bindLen && string(b[:4]) == bindMagic }
func isBound(b []byte) bool { return len(b) == boundLen && string(b[:4]) == boundMagic }
func isRelayData(b []byte) bool {
	return len(b) > relayHeader && b[0] == relayData
}

func appendBind(dst []byte, sender, peer relayframe.Key, ts uint64, key [32]byte) []byte {
	start := len(dst)
	dst = append(dst, bindMagic...)
	dst = append(dst, sender[:]...)
	dst = append(dst, peer[:]...)
	dst = binary.BigEndian.AppendUint64(dst, ts)
	mac := discoMAC(key, dst[start:])
	return append(dst, mac[:]...)
}

func appendBound(dst []byte, peer relayframe.Key, ts uint64, index uint16, ready bool, key [32]byte) []byte {
	start := len(dst)
	dst = append(dst, boundMagic...)
	dst = append(dst, peer[:]...)
	dst = binary.BigEndian.AppendUint64(dst, ts)
	dst = binary.BigEndian.AppendUint16(dst, index)
	r := byte(0)
	if ready {
		r = 1
	}
	dst = append(dst, r)
	mac := discoMAC(key, dst[start:])
	return append(dst, mac[:]...)
}

func verifyMAC(b []byte, body int, key [32]byte) bool {
	mac := discoMAC(key, b[:body])
	return subtle.ConstantTimeCompare(mac[:], b[body:]) == 1
}

// --- the relay's side ---

// RelayChecker asks the server whether the machines with the base64 keys
// a and b may use this relay between them (nil: yes).
type RelayChecker func(ctx context.Context, a, b string) error

type pairKey [2 * relayframe.KeyLen]byte

func pairOf(x, y relayframe.Key) (pairKey, [2]relayframe.Key) {
	keys := [2]relayframe.Key{x, y}
	if string(y[:]) < string(x[:]) {
		keys = [2]relayframe.Key{y, x}
	}
	var p pairKey
	copy(p[:], keys[0][:])
	copy(p[relayframe.KeyLen:], keys[1][:])
	return p, keys
}

type verdict struct {
	ok, pending bool
	until       time.Time
}

// relaySession is one pair's session on a relay.
type relaySession struct {
	index uint16
	keys  [2]relayframe.Key
	addrs [2]netip.AddrPort
	eps   [2]conn.Endpoint
	ts    [2]uint64
	lim   *rate.Limiter
	seen  time.Time
	until time.Time // the server's yes holds until
}

// relayServer is a Bind's relay role (Self.PeerRelay).
type relayServer struct {
	mu       sync.Mutex
	on       bool
	check    RelayChecker
	rate     float64
	byPair   map[pairKey]*relaySession
	byIndex  map[uint16]*relaySession
	next     uint16
	verdicts map[pairKey]*verdict
	macs     map[relayframe.Key][32]byte // MAC keys of senders whose binds verified
	bindLim  *rate.Limiter               // binds from senders not in macs

	forwarded, bytes, dropped, binds atomic.Uint64
}

// PeerRelayStatus is what `status` shows of this machine's relaying.
type PeerRelayStatus struct {
	Sessions  int    `json:"sessions"`
	Forwarded uint64 `json:"forwarded_packets"`
	Bytes     uint64 `json:"forwarded_bytes"`
	Dropped   uint64 `json:"dropped_packets"`
	Binds     uint64 `json:"binds"`
}

// handleBind binds the sender of a bind to its pair's session and
// answers. It runs on a receive goroutine: the server is asked in the
// background (the peer binds again within a second).
func (b *Bind) handleBind(pkt []byte, from netip.AddrPort) {
	rs := b.rs
	var sender, peer relayframe.Key
	copy(sender[:], pkt[4:])
	copy(peer[:], pkt[4+relayframe.KeyLen:])
	ts := binary.BigEndian.Uint64(pkt[4+2*relayframe.KeyLen:])
	rs.mu.Lock()
	on := rs.on
	key, known := rs.macs[sender]
	// Binds from strangers cost an X25519 each: they are held to
	// bindRate a second, so a flood of them cannot take the machine.
	allowed := on && (known || rs.bindLim.Allow())
	rs.mu.Unlock()
	if !allowed {
		if on {
			rs.dropped.Add(1)
		}
		return // not a relay (no work for whoever sends binds), or over the rate
	}
	ok := true
	if !known {
		key, ok = relayKey(b.id().priv, sender)
	}
	if !ok || !verifyMAC(pkt, bindBody, key) || sender == peer || !from.IsValid() {
		b.counters.badDisco.Add(1)
		return
	}
	now := b.now()
	if d := now.Sub(time.Unix(0, int64(ts))); d > bindSkew || d < -bindSkew {
		b.counters.badDisco.Add(1)
		return
	}
	pk, keys := pairOf(sender, peer)
	rs.mu.Lock()
	if !rs.on {
		rs.mu.Unlock()
		return
	}
	if !known {
		if len(rs.macs) >= maxRelaySessions {
			clear(rs.macs)
		}
		rs.macs[sender] = key // it verified: the sender holds the key
	}
	v := rs.verdicts[pk]
	if v == nil || (!v.pending && now.After(v.until)) {
		if len(rs.verdicts) >= maxRelaySessions {
			rs.sweep(now)
		}
		if len(rs.verdicts) >= maxRelaySessions {
			rs.mu.Unlock()
			rs.dropped.Add(1)
			return
		}
		v = &verdict{pending: true}
		rs.verdicts[pk] = v
		check := rs.check
		rs.mu.Unlock()
		go b.askRelay(check, pk, sender, peer, v, append([]byte(nil), pkt...), from)
		return
	}
	if v.pending || !v.ok {
		rs.mu.Unlock()
		return
	}
	s := rs.byPair[pk]
	if s == nil {
		if len(rs.byPair) >= maxRelaySessions {
			rs.sweep(now)
		}
		if len(rs.byPair) >= maxRelaySessions {
			rs.mu.Unlock()
			rs.dropped.Add(1)
			return
		}
		s = &relaySession{keys: keys, lim: rate.NewLimiter(rate.Limit(rs.rate), int(rs.rate/10)+64<<10)}
		for {
			rs.next++
			if rs.next != 0 && rs.byIndex[rs.next] == nil {
				break
			}
		}
		s.index = rs.next
		rs.byPair[pk], rs.byIndex[s.index] = s, s
	}
	side := 0
	if s.keys[1] == sender {
		side = 1
	}
	if ts <= s.ts[side] {
		rs.mu.Unlock() // a replay, or an old bind overtaken by a newer one
		return
	}
	if s.addrs[side] != from {
		ep, err := b.inner.ParseEndpoint(from.String())
		if err != nil {
			rs.mu.Unlock()
			return
		}
		s.addrs[side], s.eps[side] = from, ep
	}
	s.ts[side], s.seen, s.until = ts, now, v.until
	ready := s.addrs[1-side].IsValid()
	index, ep := s.index, s.eps[side]
	rs.mu.Unlock()
	rs.binds.Add(1)
	_ = b.inner.Send([][]byte{appendBound(nil, peer, ts, index, ready, key)}, ep)
}

// askRelay asks the server about a pair, records the answer and, when it
// is yes, completes the bind that asked.
func (b *Bind) askRelay(check RelayChecker, pk pairKey, x, y relayframe.Key, v *verdict, bind []byte, from netip.AddrPort) {
	ok := false
	if check != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := check(ctx, base64.StdEncoding.EncodeToString(x[:]), base64.StdEncoding.EncodeToString(y[:]))
		cancel()
		ok = err == nil
		if err != nil {
			b.log.Debug("peer relay: pair refused", "err", err)
		}
	}
	rs := b.rs
	rs.mu.Lock()
	v.ok, v.pending, v.until = ok, false, b.now().Add(verdictFor)
	if !ok {
		if s := rs.byPair[pk]; s != nil {
			delete(rs.byPair, pk)
			delete(rs.byIndex, s.index)
		}
	}
	rs.mu.Unlock()
	if ok {
		b.handleBind(bind, from)
	}
}

// sweep drops idle sessions and expired verdicts. rs.mu is held.
func (rs *relayServer) sweep(now time.Time) {
	for pk, s := range rs.byPair {
		if now.Sub(s.seen) > sessionIdle {
			delete(rs.byPair, pk)
			delete(rs.byIndex, s.index)
		}
	}
	for pk, v := range rs.verdicts {
		if !v.pending && now.After(v.until) {
			delete(rs.verdicts, pk)
		}
	}
}

// forward passes a data packet to the other end of its session; it
// reports false when the packet is not one this relay carries.
func (b *Bind) forward(pkt []byte, from netip.AddrPort, now time.Time) (conn.Endpoint, bool) {
	rs := b.rs
	idx := binary.BigEndian.Uint16(pkt[1:])
	rs.mu.Lock()
	defer rs.mu.Unlock()
	s := rs.byIndex[idx]
	if !rs.on || s == nil {
		return nil, false
	}
	side := -1
	switch from {
	case s.addrs[0]:
		side = 0
	case s.addrs[1]:
		side = 1
	}
	if side < 0 {
		return nil, false // not from an end of ours: maybe from a relay we use
	}
	if !s.addrs[1-side].IsValid() || now.After(s.until) || !s.lim.AllowN(now, len(pkt)) {
		rs.dropped.Add(1)
		return nil, true
	}
	s.seen = now
	rs.forwarded.Add(1)
	rs.bytes.Add(uint64(len(pkt)))
	return s.eps[1-side], true
}

// ServePeerRelay turns this machine's relaying on or off (the map's
// Self.PeerRelay); check asks the server about each pair.
func (b *Bind) ServePeerRelay(on bool, check RelayChecker, pairRate float64) {
	if pairRate <= 0 {
		pairRate = DefaultPairRate
	}
	rs := b.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if on && !rs.on {
		rs.byPair, rs.byIndex, rs.verdicts = map[pairKey]*relaySession{}, map[uint16]*relaySession{}, map[pairKey]*verdict{}
		rs.macs, rs.bindLim = map[relayframe.Key][32]byte{}, rate.NewLimiter(bindRate, bindRate)
	}
	if !on {
		rs.byPair, rs.byIndex, rs.verdicts, rs.macs = nil, nil, nil, nil
	}
	rs.on, rs.check, rs.rate = on, check, pairRate
}

func (b *Bind) peerRelayStatus() *PeerRelayStatus {
	rs := b.rs
	rs.mu.Lock()
	on, n := rs.on, len(rs.byPair)
	rs.mu.Unlock()
	if !on {
		return nil
	}
	return &PeerRelayStatus{Sessions: n, Forwarded: rs.forwarded.Load(), Bytes: rs.bytes.Load(), Dropped: rs.dropped.Load(), Binds: rs.binds.Load()}
}

// --- a peer's side ---

// knownRelay is a relay this machine may use (Self.Relays).
type knownRelay struct {
	key   relayframe.Key
	name  string
	addrs []netip.AddrPort
	eps   map[netip.AddrPort]conn.Endpoint
}

// relayPath is the path to one peer through one relay.
type relayPath struct {
	relay    *knownRelay
	index    uint16
	addr     netip.AddrPort // the relay's address that answered our bind
	ep       conn.Endpoint
	ready    bool
	bindTS   uint64
	lastBind time.Time
	boundAt  time.Time
	lastPong time.Time
	lastPing time.Time
	latency  time.Duration
}

type relayIndex struct {
	addr  netip.AddrPort
	index uint16
}

// SetPeerRelays replaces the relays this machine may use.
func (b *Bind) SetPeerRelays(rs []wire.PeerRelay) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := map[relayframe.Key]*knownRelay{}
	for _, r := range rs {
		k, err := parseKey(r.PublicKey)
		if err != nil || k == b.id().pub {
			continue
		}
		kr := b.relays[k]
		addrs := relayAddrs(r.Endpoints)
		if kr == nil || !equalAddrs(kr.addrs, addrs) {
			kr = &knownRelay{key: k, name: r.Name, addrs: addrs, eps: map[netip.AddrPort]conn.Endpoint{}}
		}
		next[k] = kr
	}
	b.relays = next
	b.byRelayAddr = map[netip.AddrPort]*knownRelay{}
	for _, kr := range next {
		for _, a := range kr.addrs {
			b.byRelayAddr[a] = kr
		}
	}
	// Paths through relays that went away are forgotten.
	for _, p := range b.peers {
		p.mu.Lock()
		for k, rp := range p.viaRelays {
			if next[k] != rp.relay {
				delete(p.viaRelays, k)
			}
		}
		p.mu.Unlock()
	}
	for ri, p := range b.byRelayIndex {
		if b.byRelayAddr[ri.addr] == nil || b.peers[p.key] != p {
			delete(b.byRelayIndex, ri)
		}
	}
}

// relayAddrs parses a relay's addresses (any address but the
// unspecified one, at most maxCandidates).
func relayAddrs(eps []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, e := range eps {
		ap, err := netip.ParseAddrPort(e)
		if err != nil || ap.Addr().IsUnspecified() || ap.Port() == 0 || len(out) >= maxCandidates {
			continue
		}
		out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
	}
	return out
}

func equalAddrs(a, b []netip.AddrPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bindRelays binds to every relay for p (each of its addresses until one
// answers), at most once a second per relay.
func (b *Bind) bindRelays(p *peer, now time.Time) {
	b.mu.RLock()
	relays := make([]*knownRelay, 0, len(b.relays))
	for _, kr := range b.relays {
		relays = append(relays, kr)
	}
	b.mu.RUnlock()
	id := b.id()
	for _, kr := range relays {
		p.mu.Lock()
		if p.viaRelays == nil {
			p.viaRelays = map[relayframe.Key]*relayPath{}
		}
		rp := p.viaRelays[kr.key]
		if rp == nil || rp.relay != kr {
			rp = &relayPath{relay: kr}
			p.viaRelays[kr.key] = rp
		}
		if now.Sub(rp.lastBind) < probeMin {
			p.mu.Unlock()
			continue
		}
		rp.lastBind = now
		ts := uint64(now.UnixNano())
		if ts <= rp.bindTS {
			ts = rp.bindTS + 1
		}
		rp.bindTS = ts
		targets := kr.addrs
		if rp.addr.IsValid() {
			targets = []netip.AddrPort{rp.addr}
		}
		p.mu.Unlock()
		key, ok := relayKey(id.priv, kr.key)
		if !ok {
			continue
		}
		msg := appendBind(nil, id.pub, p.key, ts, key)
		for _, a := range targets {
			if b.tunneled(a) {
				continue
			}
			if ep := b.relayEndpoint(kr, a); ep != nil {
				_ = b.inner.Send([][]byte{msg}, ep)
			}
		}
	}
}

func (b *Bind) relayEndpoint(kr *knownRelay, a netip.AddrPort) conn.Endpoint {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ep := kr.eps[a]; ep != nil {
		return ep
	}
	ep, err := b.inner.ParseEndpoint(a.String())
	if err != nil {
		return nil
	}
	kr.eps[a] = ep
	return ep
}

// handleBound records a relay's answer to our bind.
func (b *Bind) handleBound(pkt []byte, from netip.AddrPort) {
	b.mu.RLock()
	kr := b.byRelayAddr[from]
	var p *peer
	var peerKey relayframe.Key
	copy(peerKey[:], pkt[4:])
	if kr != nil {
		p = b.peers[peerKey]
	}
	b.mu.RUnlock()
	if kr == nil || p == nil {
		b.counters.badDisco.Add(1)
		return
	}
	key, ok := relayKey(b.id().priv, kr.key)
	if !ok || !verifyMAC(pkt, boundBody, key) {
		b.counters.badDisco.Add(1)
		return
	}
	ts := binary.BigEndian.Uint64(pkt[4+relayframe.KeyLen:])
	index := binary.BigEndian.Uint16(pkt[4+relayframe.KeyLen+8:])
	ready := pkt[4+relayframe.KeyLen+10] == 1
	p.mu.Lock()
	rp := p.viaRelays[kr.key]
	if rp == nil || rp.relay != kr || ts != rp.bindTS {
		p.mu.Unlock()
		return // not the answer to our latest bind
	}
	old := relayIndex{rp.addr, rp.index}
	rp.addr, rp.index, rp.boundAt = from, index, b.now()
	rp.ready = rp.ready || ready
	p.mu.Unlock()
	ep := b.relayEndpoint(kr, from)
	b.mu.Lock()
	if b.byRelayIndex[old] == p {
		delete(b.byRelayIndex, old)
	}
	b.byRelayIndex[relayIndex{from, index}] = p
	b.mu.Unlock()
	p.mu.Lock()
	rp.ep = ep
	p.mu.Unlock()
}

// relayedFrom finds the peer a relayed data packet from addr comes from.
func (b *Bind) relayedFrom(pkt []byte, from netip.AddrPort) (*peer, *relayPath) {
	idx := binary.BigEndian.Uint16(pkt[1:])
	b.mu.RLock()
	p := b.byRelayIndex[relayIndex{from, idx}]
	kr := b.byRelayAddr[from]
	if p != nil && b.peers[p.key] != p {
		p = nil // forgotten since
	}
	b.mu.RUnlock()
	if p == nil || kr == nil {
		return nil, nil
	}
	p.mu.Lock()
	rp := p.viaRelays[kr.key]
	if rp != nil {
		rp.ready = true // the other end is bound: its packets arrive
	}
	p.mu.Unlock()
	return p, rp
}

// sendVia sends packets through a relay session (its index, the relay's
// endpoint).
func (b *Bind) sendVia(bufs [][]byte, index uint16, ep conn.Endpoint) error {
	if ep == nil {
		return nil
	}
	// One backing array, the packets back to back: the socket's GSO
	// coalesces a batch into its first buffer's capacity, which is then
	// the rest of the batch already in place.
	total := 0
	for _, buf := range bufs {
		total += relayHeader + len(buf)
	}
	bp := viaPool.Get().(*[]byte)
	defer viaPool.Put(bp)
	if cap(*bp) < total {
		*bp = make([]byte, total)
	}
	backing := (*bp)[:total]
	out := make([][]byte, len(bufs))
	off := 0
	for i, buf := range bufs {
		pkt := backing[off : off+relayHeader+len(buf)]
		pkt[0] = relayData
		binary.BigEndian.PutUint16(pkt[1:], index)
		copy(pkt[relayHeader:], buf)
		out[i] = pkt
		off += len(pkt)
	}
	return b.inner.Send(out, ep)
}

// viaPool holds sendVia's buffers (a batch of full-size packets).
var viaPool = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}

// viaOf reads what sending through rp needs, under p's lock.
func viaOf(p *peer, rp *relayPath) (uint16, conn.Endpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return rp.index, rp.ep
}

// pingVia pings p through relay path rp.
func (b *Bind) pingVia(p *peer, rp *relayPath) {
	key, ok := b.macKey(p)
	if !ok {
		return
	}
	m := discoMsg{typ: discoPing, sender: b.id().pub}
	rand.Read(m.tx[:])
	p.addRelayPing(m.tx, rp, b.now())
	index, ep := viaOf(p, rp)
	_ = b.sendVia([][]byte{appendDisco(nil, m, key)}, index, ep)
}

// probeRelays binds to the relays for p and pings it through those that
// are ready.
func (b *Bind) probeRelays(p *peer, now time.Time) {
	b.bindRelays(p, now)
	for _, rp := range p.readyRelays() {
		b.pingVia(p, rp)
	}
}

// discoViaRelay answers a probe message that came through a peer relay
// (its MAC was checked): a ping with a pong the same way (and a ping
// back, so both ends confirm the path), a pong by recording it.
func (b *Bind) discoViaRelay(p *peer, m discoMsg, key [32]byte, via *relayPath, now time.Time) {
	switch m.typ {
	case discoPing:
		pong := discoMsg{typ: discoPong, sender: b.id().pub, tx: m.tx}
		index, ep := viaOf(p, via)
		_ = b.sendVia([][]byte{appendDisco(nil, pong, key)}, index, ep)
		p.mu.Lock()
		due := now.Sub(via.lastPong) >= trustFor && now.Sub(via.lastPing) >= probeMin/2
		if due {
			via.lastPing = now
		}
		p.mu.Unlock()
		if due {
			b.pingVia(p, via)
		}
	case discoPong:
		p.gotPong(m.tx, now)
	default:
		b.counters.badDisco.Add(1)
	}
}

// peerRelayReceive handles what peer relays send on the WireGuard socket
// before wireguard-go sees the batch: binds (as a relay), bound answers,
// and relayed packets — forwarded (as a relay) or unwrapped and
// attributed to the peer they come from (as one end). Handled packets
// are emptied (wireguard-go skips them).
func (b *Bind) peerRelayReceive(packets [][]byte, sizes []int, eps []conn.Endpoint, n int) {
	var (
		now   time.Time
		fwd   [][]byte
		fwdTo conn.Endpoint
	)
	flush := func() {
		if len(fwd) > 0 {
			_ = b.inner.Send(fwd, fwdTo)
			fwd = fwd[:0]
		}
	}
	for i := 0; i < n; i++ {
		pkt := packets[i][:sizes[i]]
		if len(pkt) == 0 {
			continue
		}
		switch {
		case isRelayData(pkt):
			if now.IsZero() {
				now = b.now()
			}
			from := addrOf(eps[i])
			if to, mine := b.forward(pkt, from, now); mine {
				if to != nil {
					if to != fwdTo {
						flush()
						fwdTo = to
					}
					fwd = append(fwd, pkt)
				}
				sizes[i] = 0
				continue
			}
			p, rp := b.relayedFrom(pkt, from)
			inner := pkt[relayHeader:]
			switch {
			case p == nil:
				b.counters.dropped.Add(1)
				sizes[i] = 0
			case isDisco(inner):
				b.handleDisco(inner, from, false, rp)
				sizes[i] = 0
			default:
				sizes[i] = copy(packets[i], inner)
				eps[i] = p.ep
			}
		case isBind(pkt):
			b.handleBind(pkt, addrOf(eps[i]))
			sizes[i] = 0
		case isBound(pkt):
			b.handleBound(pkt, addrOf(eps[i]))
			sizes[i] = 0
		}
	}
	flush()
}

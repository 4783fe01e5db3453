package netpath

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

// Timings of path selection. All are driven by traffic: an idle peer has
// no timer and sends nothing.
const (
	// trustFor is how long a direct path is used without a fresh pong;
	// heartbeatEvery how often it is pinged while packets flow. A path
	// that stops answering is abandoned within trustFor of its last pong.
	trustFor       = 2500 * time.Millisecond
	heartbeatEvery = 1 * time.Second
	// probeMin and probeMax bound the spacing of probe rounds (every
	// candidate pinged) while a peer is active without a direct path.
	probeMin = 1 * time.Second
	probeMax = 8 * time.Second
	// pongWait is how long a ping to the path may go unanswered before
	// the path counts as broken. A path that was merely not asked while
	// the peer was quiet is not broken: the next packet asks again.
	pongWait = 1 * time.Second
	// relayPongWait is the least a ping through a peer relay waits for
	// its pong before the server's relay carries the packets too.
	relayPongWait = 200 * time.Millisecond
	// noRelayFor is how long the relay is skipped for a peer it reported
	// as absent (an older agent, or one still connecting).
	noRelayFor = 2 * time.Second
	// guessFor is how long, when packets start flowing to a peer without
	// a known direct path, they also go to its map's first address: where
	// that address works (same LAN, a public address) the first packets
	// take it instead of two relay hops; elsewhere the copies are lost.
	// WireGuard drops the duplicates (replay protection).
	guessFor = time.Second
	// pingTimeout forgets unanswered pings.
	pingTimeout = 5 * time.Second
	// maxCandidates caps the addresses kept per peer.
	maxCandidates = 16
)

// peer is the path state of one WireGuard peer.
type peer struct {
	key  relayframe.Key
	id   string // the machine's ID ("" when not told)
	name string
	ep   *endpoint
	// The probe MAC key shared with this peer, for our identity macFor
	// (a rotated key makes a new one).
	macMu  sync.Mutex
	macFor *identity
	mac    [32]byte
	macOK  bool

	mu           sync.Mutex
	candidates   []netip.AddrPort // from the map, best first, then learned ones
	fromMap      int              // how many of candidates came from the map
	eps          map[netip.AddrPort]conn.Endpoint
	best         netip.AddrPort // confirmed direct address, if any
	bestLatency  time.Duration
	lastPong     time.Time
	lastPing     time.Time // last heartbeat to best
	lastProbe    time.Time // last probe round
	probeGap     time.Duration
	lastCall     time.Time
	lastPingBack time.Time
	pending      map[txid]sentPing
	noRelayUntil time.Time
	lastPath     string
	lastSend     time.Time // last decision (packets sent)
	guessUntil   time.Time // see guessFor
	heldInit     []byte    // last handshake initiation sent to the peer
	heldAt       time.Time // when
	respondedAt  time.Time // last handshake response sent to the peer
	presentAt    time.Time // when the relay last announced the peer
	// viaRelays are the paths to the peer through peer relays, by relay.
	viaRelays map[relayframe.Key]*relayPath
}

// inherit takes over old's confirmed direct path: old is the same machine
// under its previous key.
func (p *peer) inherit(old *peer) {
	old.mu.Lock()
	best, lat, pong, path := old.best, old.bestLatency, old.lastPong, old.lastPath
	old.mu.Unlock()
	p.mu.Lock()
	p.best, p.bestLatency, p.lastPong, p.lastPath = best, lat, pong, path
	p.mu.Unlock()
}

// A handshake initiation the relay could not deliver (the peer was still
// connecting) is resent when the relay announces the peer, within the
// 5 s after which WireGuard would send a new one anyway. Not at once:
// a peer that just connected usually initiates itself, and two
// initiations that cross leave both sides with a half-made session until
// WireGuard's retry. So the resend waits presentDelay and is skipped if
// we answered an initiation of the peer's meanwhile.
const (
	initLen      = 148 // WireGuard message type 1
	responseLen  = 92  // type 2
	holdInit     = 5 * time.Second
	presentDelay = 250 * time.Millisecond
)

func isHandshake(b []byte, typ byte, n int) bool {
	return len(b) == n && b[0] == typ && b[1] == 0 && b[2] == 0 && b[3] == 0
}

// hold keeps a copy of the last handshake initiation among bufs and
// notes handshake responses.
func (p *peer) hold(bufs [][]byte, now time.Time) {
	for _, b := range bufs {
		switch {
		case isHandshake(b, 1, initLen):
			p.mu.Lock()
			p.heldInit = append(p.heldInit[:0], b...)
			p.heldAt = now
			p.mu.Unlock()
		case isHandshake(b, 2, responseLen):
			p.mu.Lock()
			p.respondedAt = now
			p.mu.Unlock()
		}
	}
}

// present is the relay's news that the peer connected: relay to it again.
// It reports whether an initiation is held for a resend (see resendDue).
func (p *peer) present(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noRelayUntil = time.Time{}
	p.presentAt = now
	return p.heldInit != nil && now.Sub(p.heldAt) < holdInit
}

// resendDue returns the held initiation if it should be resent now:
// it is still WireGuard's current one, and no handshake with the peer
// has happened since the announcement.
func (p *peer) resendDue(now time.Time) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.heldInit == nil || now.Sub(p.heldAt) >= holdInit || !p.heldAt.Before(p.presentAt) || !p.respondedAt.Before(p.presentAt) {
		return nil
	}
	b := p.heldInit
	p.heldInit = nil
	return b
}

type sentPing struct {
	addr netip.AddrPort
	at   time.Time
	via  *relayPath // sent through a peer relay
}

// pathDecision is what to do with packets for a peer now.
type pathDecision struct {
	direct      netip.AddrPort // send here (valid when a direct path is known)
	relay       bool           // and/or through the relay
	guess       netip.AddrPort // no relay and no confirmed path: the map's first address
	heartbeat   bool           // ping direct now
	probe       bool           // ping every candidate now
	call        bool           // ask the peer (via relay) to probe us
	via         *relayPath     // no direct path: send through this peer relay
	viaPing     bool           // ping through it now
	rebind      bool           // refresh its bindings now
	pathChanged string         // non-empty when the path changed: "direct …", "relay"
	broke       bool           // and it changed because a direct path in use stopped answering
}

// decide chooses where packets to the peer go at now and which probes to
// send. relayUp says the relay is connected.
func (p *peer) decide(now time.Time, relayUp bool) pathDecision {
	p.mu.Lock()
	defer p.mu.Unlock()
	var d pathDecision
	trusted := p.best.IsValid() && now.Sub(p.lastPong) < trustFor
	// Heartbeats go out only while packets flow, so after a pause of a
	// few seconds the path is untrusted without anything having failed.
	// Only a ping that went unanswered says it broke; before, every such
	// pause was reported as "direct path to peer stopped answering" with
	// a flip to the relay while the LAN path worked.
	unanswered := p.best.IsValid() && p.lastPing.After(p.lastPong) && now.Sub(p.lastPing) >= pongWait
	useRelay := relayUp && now.After(p.noRelayUntil)
	via := p.bestRelay(now)
	if now.Sub(p.lastSend) >= trustFor {
		p.guessUntil = now.Add(guessFor) // traffic starts (again)
	}
	p.lastSend = now
	switch {
	case trusted:
		d.direct = p.best
		if now.Sub(p.lastPing) >= heartbeatEvery {
			d.heartbeat = true
			p.lastPing = now
		}
	case via != nil:
		// No direct path answers, a peer relay does: it carries the
		// packets (not the server); probing for a direct path goes on.
		d.via = via
		if via.lastPing.After(via.lastPong) && now.Sub(via.lastPing) >= max(4*via.latency, relayPongWait) {
			// Its last ping went unanswered for several round trips: the
			// server's relay carries the packets too until a pong
			// confirms the peer relay (or trustFor ends it). A relay
			// machine that dies costs about a heartbeat, not trustFor.
			d.relay = useRelay
		}
		if now.Sub(via.lastPing) >= heartbeatEvery {
			d.viaPing = true
			via.lastPing = now
		}
		d.rebind = now.Sub(via.boundAt) >= rebindEvery
	case p.best.IsValid():
		// Traffic resumed after a pause (ask the path again), or the
		// path stopped answering (keep trying it): the relay carries the
		// packets too until a pong confirms it.
		d.direct = p.best
		d.relay = useRelay
		if now.Sub(p.lastPing) >= probeMin/2 {
			d.heartbeat = true
			p.lastPing = now
		}
	default:
		d.relay = useRelay
		if (!useRelay && len(p.candidates) > 0) || (now.Before(p.guessUntil) && p.fromMap > 0) {
			d.guess = p.candidates[0]
		}
	}
	if !trusted && len(p.candidates) > 0 && now.Sub(p.lastProbe) >= p.probeGap {
		d.probe = true
		d.call = useRelay && now.Sub(p.lastCall) >= probeMin
		if d.call {
			p.lastCall = now
		}
		p.lastProbe = now
		p.probeGap = min(max(p.probeGap*2, probeMin), probeMax)
	}
	path := "relay"
	switch {
	case trusted, via == nil && p.best.IsValid() && !unanswered:
		path = "direct " + p.best.String() // being asked again after a pause is no change
	case via != nil:
		path = "peer-relay " + via.relay.name
	case !useRelay && d.guess.IsValid():
		path = "guess " + d.guess.String()
	case !useRelay:
		path = "none"
	}
	if path != p.lastPath {
		d.pathChanged = path
		// A direct path whose ping went unanswered is news; one that
		// lapsed while the peer was quiet and is asked again is not.
		d.broke = unanswered && strings.HasPrefix(p.lastPath, "direct")
		p.lastPath = path
	}
	return d
}

// addPing records a ping sent to addr.
func (p *peer) addPing(tx txid, addr netip.AddrPort, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[txid]sentPing{}
	}
	for k, s := range p.pending {
		if now.Sub(s.at) > pingTimeout {
			delete(p.pending, k)
		}
	}
	p.pending[tx] = sentPing{addr: addr, at: now}
}

// gotPong records the answer to ping tx and reports whether it matched.
// A working address becomes the path when there is none, when the
// current one is stale, or when it is clearly faster (a LAN address
// beside a NAT's public one).
func (p *peer) gotPong(tx txid, now time.Time) (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.pending[tx]
	if !ok {
		return netip.AddrPort{}, false
	}
	delete(p.pending, tx)
	lat := now.Sub(s.at)
	if s.via != nil {
		s.via.lastPong, s.via.latency = now, lat
		return s.addr, true
	}
	switch {
	case s.addr == p.best:
		p.lastPong, p.bestLatency = now, lat
	case !p.best.IsValid(), now.Sub(p.lastPong) >= trustFor, lat < p.bestLatency*7/10:
		p.best, p.bestLatency, p.lastPong = s.addr, lat, now
		p.probeGap = probeMin
	}
	return s.addr, true
}

// addRelayPing records a ping sent through relay path rp.
func (p *peer) addRelayPing(tx txid, rp *relayPath, now time.Time) {
	p.mu.Lock()
	addr := rp.addr
	p.mu.Unlock()
	p.addPing(tx, addr, now)
	p.mu.Lock()
	if s, ok := p.pending[tx]; ok {
		s.via = rp
		p.pending[tx] = s
	}
	p.mu.Unlock()
}

// bestRelay returns the fastest peer-relay path that answered within
// trustFor (nil: none). p.mu is held.
func (p *peer) bestRelay(now time.Time) *relayPath {
	var best *relayPath
	for _, rp := range p.viaRelays {
		if rp.ep != nil && now.Sub(rp.lastPong) < trustFor && (best == nil || rp.latency < best.latency) {
			best = rp
		}
	}
	return best
}

// readyRelays returns the relay paths both ends are bound to.
func (p *peer) readyRelays() []*relayPath {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*relayPath
	for _, rp := range p.viaRelays {
		if rp.ready && rp.ep != nil {
			out = append(out, rp)
		}
	}
	return out
}

// learn adds an address a valid ping came from (a peer-reflexive
// candidate) and reports whether it was new.
func (p *peer) learn(addr netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.candidates {
		if c == addr {
			return false
		}
	}
	if len(p.candidates) >= maxCandidates {
		if p.fromMap >= maxCandidates {
			return false
		}
		p.candidates = append(p.candidates[:p.fromMap], p.candidates[p.fromMap+1:]...) // drop the oldest learned one
	}
	p.candidates = append(p.candidates, addr)
	return true
}

// setCandidates replaces the map's candidates, keeping learned ones and
// the current path when it is still plausible.
func (p *peer) setCandidates(eps []netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	learned := append([]netip.AddrPort(nil), p.candidates[p.fromMap:]...)
	p.candidates = append([]netip.AddrPort(nil), eps...)
	p.fromMap = len(eps)
	for _, a := range learned {
		if len(p.candidates) < maxCandidates && !contains(p.candidates, a) {
			p.candidates = append(p.candidates, a)
		}
	}
	p.probeGap = 0 // new addresses: probe at the next packet
}

// fromMapEqual reports whether the map's candidates are eps already.
func (p *peer) fromMapEqual(eps []netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Equal(p.candidates[:p.fromMap], eps)
}

func (p *peer) candidateList() []netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]netip.AddrPort(nil), p.candidates...)
}

func contains(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, c := range list {
		if c == a {
			return true
		}
	}
	return false
}

// PathStatus is what `status` shows of one peer's path.
type PathStatus struct {
	Path      string        `json:"path"`                 // direct, peer-relay, relay or none
	Addr      string        `json:"addr,omitempty"`       // the direct address (the relay's, through a peer relay)
	Relay     string        `json:"relay,omitempty"`      // the peer relay's name
	Latency   time.Duration `json:"latency_ns,omitempty"` // round trip of the last pong
	LastPong  time.Time     `json:"last_pong,omitzero"`
	LastProbe time.Time     `json:"last_probe,omitzero"`
}

func (p *peer) status(now time.Time, relayUp bool) PathStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := PathStatus{Path: "none", LastPong: p.lastPong, LastProbe: p.lastProbe}
	via := p.bestRelay(now)
	switch {
	case p.best.IsValid() && now.Sub(p.lastPong) < trustFor:
		st.Path, st.Addr, st.Latency = "direct", p.best.String(), p.bestLatency
	case via != nil:
		st.Path, st.Addr, st.Latency, st.Relay = "peer-relay", via.addr.String(), via.latency, via.relay.name
	case relayUp:
		st.Path = "relay"
	case len(p.candidates) > 0:
		st.Path, st.Addr = "direct", p.candidates[0].String() // unconfirmed: the map's first address
	}
	if !st.LastPong.IsZero() {
		st.LastPong = st.LastPong.UTC()
	}
	if !st.LastProbe.IsZero() {
		st.LastProbe = st.LastProbe.UTC()
	}
	return st
}

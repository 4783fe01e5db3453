package netpath

import (
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
)

func keypair(t testing.TB) (priv, pub relayframe.Key) {
	rand.Read(priv[:])
	priv[0] &= 248
	priv[31] = (priv[31] & 127) | 64
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		t.Fatal(err)
	}
	copy(pub[:], p)
	return priv, pub
}

// Both sides derive the same MAC key; a third party's key does not
// verify; any flipped bit fails.
func TestDiscoAuthentication(t *testing.T) {
	aPriv, aPub := keypair(t)
	bPriv, bPub := keypair(t)
	cPriv, _ := keypair(t)
	kab, err := discoKey(aPriv, bPub)
	if err != nil {
		t.Fatal(err)
	}
	kba, _ := discoKey(bPriv, aPub)
	kcb, _ := discoKey(cPriv, bPub)
	if kab != kba {
		t.Fatal("the two sides derive different keys")
	}
	m := discoMsg{typ: discoPing, sender: aPub}
	rand.Read(m.tx[:])
	pkt := appendDisco(nil, m, kab)
	if len(pkt) != discoLen || !isDisco(pkt) {
		t.Fatalf("packet of %d bytes", len(pkt))
	}
	got, err := parseDisco(pkt)
	if err != nil || got != m {
		t.Fatalf("parse: %+v %v", got, err)
	}
	if !verifyDisco(pkt, kba) {
		t.Fatal("b cannot verify a's ping")
	}
	if verifyDisco(pkt, kcb) {
		t.Fatal("a ping MACed for a verifies under c's key")
	}
	for i := range pkt {
		bad := append([]byte(nil), pkt...)
		bad[i] ^= 1
		if _, err := parseDisco(bad); err == nil && verifyDisco(bad, kba) {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	// WireGuard's own messages never look like probes.
	for typ := byte(1); typ <= 4; typ++ {
		if isDisco([]byte{typ, 0, 0, 0, 1, 2, 3}) {
			t.Fatalf("WireGuard message type %d taken for a probe", typ)
		}
	}
	if _, err := discoKey(aPriv, relayframe.Key{}); err == nil {
		t.Fatal("a low-order (all-zero) public key gave a MAC key")
	}
}

func FuzzParseDisco(f *testing.F) {
	_, pub := keypair(f)
	f.Add(appendDisco(nil, discoMsg{typ: discoPong, sender: pub}, [32]byte{}))
	f.Add([]byte("WFD1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseDisco(b)
		if err != nil {
			return
		}
		if m.typ < discoPing || m.typ > discoCall || len(b) != discoLen {
			t.Fatalf("accepted %x as %+v", b, m)
		}
	})
}

var (
	lan  = netip.MustParseAddrPort("192.168.1.20:51820")
	wan  = netip.MustParseAddrPort("203.0.113.7:51820")
	t0   = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tick = func(d time.Duration) time.Time { return t0.Add(d) }
)

func newPeer(eps ...netip.AddrPort) *peer {
	p := &peer{}
	p.setCandidates(eps)
	return p
}

// The life of a path: relay at once with a probe round and a call; the
// first pong makes the path direct; heartbeats while it is trusted; when
// pongs stop, packets go both ways and probing resumes; a pong brings it
// back.
func TestPathDecisions(t *testing.T) {
	p := newPeer(lan, wan)
	d := p.decide(tick(0), true)
	if !d.relay || d.direct.IsValid() || !d.probe || !d.call || d.pathChanged != "relay" {
		t.Fatalf("first packet: %+v, want relay with probe and call", d)
	}
	if d.guess != lan {
		t.Fatalf("first packet: also to %v (map's first address) for guessFor: %+v", lan, d)
	}
	if d := p.decide(tick(100*time.Millisecond), true); d.probe || d.call {
		t.Fatalf("probed again within probeMin: %+v", d)
	}
	if d := p.decide(tick(guessFor), true); d.guess.IsValid() || !d.relay {
		t.Fatalf("still guessing after guessFor: %+v", d)
	}
	tx := txid{1}
	p.addPing(tx, wan, tick(0))
	if _, ok := p.gotPong(txid{9}, tick(time.Millisecond)); ok {
		t.Fatal("a pong for an unknown ping counted")
	}
	if a, ok := p.gotPong(tx, tick(20*time.Millisecond)); !ok || a != wan {
		t.Fatalf("pong: %v %v", a, ok)
	}
	d = p.decide(tick(30*time.Millisecond), true)
	if d.direct != wan || d.relay || d.pathChanged != "direct "+wan.String() {
		t.Fatalf("after the pong: %+v, want direct to %v only", d, wan)
	}
	// A clearly faster address (the LAN one) takes over.
	p.addPing(txid{2}, lan, tick(40*time.Millisecond))
	p.gotPong(txid{2}, tick(41*time.Millisecond))
	if d := p.decide(tick(50*time.Millisecond), true); d.direct != lan {
		t.Fatalf("faster LAN address not chosen: %+v", d)
	}
	// Heartbeats once a second while trusted.
	if d := p.decide(tick(1100*time.Millisecond), true); !d.heartbeat || d.direct != lan {
		t.Fatalf("no heartbeat after a second: %+v", d)
	}
	if d := p.decide(tick(1200*time.Millisecond), true); d.heartbeat {
		t.Fatal("heartbeat again within a second")
	}
	// No pong for trustFor: both paths, and probing again.
	d = p.decide(tick(41*time.Millisecond+trustFor), true)
	if d.direct != lan || !d.relay || !d.probe || d.pathChanged != "relay" || !d.broke {
		t.Fatalf("stale path: %+v, want direct+relay with probe, reported as a break", d)
	}
	p.addPing(txid{3}, lan, tick(3*time.Second))
	p.gotPong(txid{3}, tick(3*time.Second+time.Millisecond))
	if d := p.decide(tick(3*time.Second+2*time.Millisecond), true); d.relay || d.direct != lan {
		t.Fatalf("recovered path: %+v", d)
	}
	// Quiet for a minute, then traffic again: the path is asked again
	// (a heartbeat, and the relay carries the packets too until the pong)
	// without being reported as changed, let alone broken.
	d = p.decide(tick(time.Minute), true)
	if d.pathChanged != "" || d.broke || !d.heartbeat || d.direct != lan || !d.relay {
		t.Fatalf("path lapsed while quiet: %+v, want it asked again, unchanged", d)
	}
	p.addPing(txid{4}, lan, tick(time.Minute))
	// Its pong: direct only again, still no change.
	p.gotPong(txid{4}, tick(time.Minute+time.Millisecond))
	if d := p.decide(tick(time.Minute+2*time.Millisecond), true); d.pathChanged != "" || d.relay || d.direct != lan {
		t.Fatalf("after the pong: %+v", d)
	}
	// No pong within pongWait: now it is a break.
	d = p.decide(tick(2*time.Minute), true) // asks again
	if d.pathChanged != "" || !d.heartbeat {
		t.Fatalf("second pause: %+v", d)
	}
	if d := p.decide(tick(2*time.Minute+pongWait), true); d.pathChanged != "relay" || !d.broke || !d.relay {
		t.Fatalf("unanswered ping: %+v, want a break to the relay", d)
	}
}

// The newcomer's case: a ping every second with pauses of 2.5–4.5 s
// between bursts, the LAN path answering every heartbeat at once. Before,
// each pause flipped the path to the relay and logged "direct path to
// peer stopped answering"; now the path never changes.
func TestPausesDoNotFlipAWorkingPath(t *testing.T) {
	p := newPeer(lan)
	p.addPing(txid{1}, lan, tick(0))
	p.gotPong(txid{1}, tick(time.Millisecond))
	if d := p.decide(tick(2*time.Millisecond), true); d.pathChanged != "direct "+lan.String() {
		t.Fatalf("first: %+v", d)
	}
	at := 2 * time.Millisecond
	n := byte(2)
	for burst := range 5 {
		for range 3 {
			at += time.Second
			d := p.decide(tick(at), true)
			if d.pathChanged != "" || d.broke {
				t.Fatalf("burst %d at %v: %+v, want the direct path unchanged", burst, at, d)
			}
			if d.heartbeat {
				p.addPing(txid{n}, lan, tick(at))
				p.gotPong(txid{n}, tick(at+time.Millisecond))
				n++
			}
		}
		at += 2500*time.Millisecond + time.Duration(burst)*500*time.Millisecond
	}
}

// Without a relay (or when the relay says the peer is absent) packets go
// to the map's first address, as before NAT traversal.
func TestPathWithoutRelay(t *testing.T) {
	p := newPeer(lan, wan)
	if d := p.decide(tick(0), false); d.relay || d.guess != lan || d.call {
		t.Fatalf("no relay: %+v, want a guess at %v and no call", d, lan)
	}
	p.noRelayUntil = tick(noRelayFor)
	if d := p.decide(tick(time.Second), true); d.relay || d.guess != lan {
		t.Fatalf("peer absent from relay: %+v", d)
	}
	if d := p.decide(tick(noRelayFor+time.Millisecond), true); !d.relay {
		t.Fatalf("relay not retried after noRelayFor: %+v", d)
	}
	if d := newPeer().decide(tick(0), false); d.relay || d.guess.IsValid() || d.probe {
		t.Fatalf("peer without addresses or relay: %+v", d)
	}
}

// A handshake initiation the relay could not deliver is resent after
// the relay announces the peer, if WireGuard would not have retried yet
// and the peer has not started a handshake of its own meanwhile; other
// packets are not held.
func TestPresentResendsTheHeldHandshake(t *testing.T) {
	init := make([]byte, initLen)
	init[0] = 1
	data := make([]byte, initLen)
	data[0] = 4 // transport data of the same length
	resp := make([]byte, responseLen)
	resp[0] = 2

	p := newPeer(lan)
	p.hold([][]byte{data}, tick(0))
	if p.present(tick(time.Millisecond)) || p.resendDue(tick(presentDelay)) != nil {
		t.Fatal("a data packet was held")
	}

	p = newPeer(lan)
	p.hold([][]byte{data, init, data}, tick(0))
	p.noRelayUntil = tick(noRelayFor)
	if !p.present(tick(time.Second)) {
		t.Fatal("present found no initiation to resend")
	}
	if !p.noRelayUntil.IsZero() {
		t.Fatal("present left the relay skipped for the peer")
	}
	if got := p.resendDue(tick(time.Second + presentDelay)); string(got) != string(init) {
		t.Fatalf("resendDue gave %x, want the initiation", got)
	}
	if p.resendDue(tick(time.Second+presentDelay)) != nil {
		t.Fatal("the initiation was resent twice")
	}

	// The peer initiated and we answered: a resend would cross it.
	p = newPeer(lan)
	p.hold([][]byte{init}, tick(0))
	p.present(tick(time.Second))
	p.hold([][]byte{resp}, tick(time.Second+time.Millisecond))
	if p.resendDue(tick(time.Second+presentDelay)) != nil {
		t.Fatal("resent although the peer's own handshake was answered")
	}

	// WireGuard sent a newer initiation itself: nothing to resend.
	p = newPeer(lan)
	p.hold([][]byte{init}, tick(0))
	p.present(tick(time.Second))
	p.hold([][]byte{init}, tick(time.Second+time.Millisecond))
	if p.resendDue(tick(time.Second+presentDelay)) != nil {
		t.Fatal("resent although a newer initiation went out")
	}

	// Too old: WireGuard has retried by now.
	p = newPeer(lan)
	p.hold([][]byte{init}, tick(0))
	if p.present(tick(holdInit)) || p.resendDue(tick(holdInit+presentDelay)) != nil {
		t.Fatal("an initiation WireGuard has already retried was resent")
	}
}

// Probe rounds back off from probeMin to probeMax while no path works,
// and new candidates reset the backoff.
func TestProbeBackoff(t *testing.T) {
	p := newPeer(wan)
	var rounds []time.Duration
	for ms := 0; ms <= 40000; ms += 100 {
		at := time.Duration(ms) * time.Millisecond
		if p.decide(tick(at), true).probe {
			rounds = append(rounds, at)
		}
	}
	if len(rounds) < 4 || rounds[1]-rounds[0] != probeMin || rounds[len(rounds)-1]-rounds[len(rounds)-2] != probeMax {
		t.Fatalf("probe rounds at %v", rounds)
	}
	p.setCandidates([]netip.AddrPort{wan, lan})
	if !p.decide(tick(40100*time.Millisecond), true).probe {
		t.Fatal("new candidates did not trigger a probe")
	}
}

func TestLearnedCandidatesAreCapped(t *testing.T) {
	p := newPeer(wan)
	for i := range 3 * maxCandidates {
		p.learn(netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(1000+i)))
	}
	c := p.candidateList()
	if len(c) != maxCandidates || c[0] != wan {
		t.Fatalf("%d candidates, first %v", len(c), c[0])
	}
	if p.learn(c[1]) {
		t.Fatal("a known address learned twice")
	}
	p.setCandidates([]netip.AddrPort{lan})
	if c := p.candidateList(); c[0] != lan || len(c) != maxCandidates {
		t.Fatalf("after a map update: %v", c)
	}
}

func TestSyntheticEndpoints(t *testing.T) {
	_, a := keypair(t)
	_, b := keypair(t)
	sa, sb := Synthetic(a), Synthetic(b)
	if sa == sb || !sa.Addr().Is6() || sa.Addr().As16()[0] != 0xfd {
		t.Fatalf("synthetic %v %v", sa, sb)
	}
	cands := parseCandidates([]string{"127.0.0.1:1", "[::]:5", "203.0.113.7:0", "bogus", wan.String(), wan.String(), "[::ffff:192.168.1.20]:51820"})
	if len(cands) != 2 || cands[0] != wan || cands[1] != lan {
		t.Fatalf("candidates %v", cands)
	}
}

// A delta's UpdatePeers touches only the peers it names: the others keep
// their probe schedule and their source addresses; a removed peer's
// addresses no longer identify it.
func TestUpdatePeersTouchesOnlyItsPeers(t *testing.T) {
	priv, _ := keypair(t)
	b, err := New(&recordBind{}, Options{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	_, k1 := keypair(t)
	_, k2 := keypair(t)
	s1, s2 := base64.StdEncoding.EncodeToString(k1[:]), base64.StdEncoding.EncodeToString(k2[:])
	other := netip.MustParseAddrPort("198.51.100.9:4000")
	b.SetPeers([]Peer{{PublicKey: s1, Name: "one", Endpoints: []string{wan.String()}}, {PublicKey: s2, Name: "two", Endpoints: []string{lan.String()}}})
	p1, p2 := b.peers[k1], b.peers[k2]
	p1.probeGap, p2.probeGap = time.Minute, time.Minute

	// Unchanged peer listed again (a full map) and p2 moved (a delta).
	b.SetPeers([]Peer{{PublicKey: s1, Name: "one", Endpoints: []string{wan.String()}}, {PublicKey: s2, Name: "two", Endpoints: []string{lan.String()}}})
	if p1.probeGap != time.Minute || p2.probeGap != time.Minute {
		t.Fatalf("an unchanged map reset the probe schedule: %v %v", p1.probeGap, p2.probeGap)
	}
	b.UpdatePeers([]Peer{{PublicKey: s2, Name: "two", Endpoints: []string{other.String()}}}, nil)
	if b.peers[k2] != p2 || p2.probeGap != 0 || p2.candidateList()[0] != other {
		t.Fatalf("moved peer: %+v", p2.candidateList())
	}
	if p1.probeGap != time.Minute || b.bySource[wan] != p1 {
		t.Fatalf("a delta for two touched one: gap %v, source %v", p1.probeGap, b.bySource[wan])
	}
	if b.bySource[lan] != nil || b.bySource[other] != p2 {
		t.Fatalf("sources after the move: lan→%v other→%v", b.bySource[lan], b.bySource[other])
	}

	b.UpdatePeers(nil, []string{s2})
	if b.peers[k2] != nil || b.bySource[other] != nil || b.bySynth[Synthetic(k2)] != nil || b.peers[k1] != p1 {
		t.Fatalf("after removing two: peers %d, source %v", len(b.peers), b.bySource[other])
	}
	if _, ok := b.Path(s2); ok {
		t.Fatal("a removed peer still has a path")
	}
}

// Addresses the tunnel itself carries (the overlay, a subnet routed
// through a peer) are never probed and never learned as a peer's path:
// probing a router's LAN address through the tunnel once made a client
// take the router's overlay address for a direct path, and its packets
// looped into the tunnel.
func TestTunneledAddressesAreNotPaths(t *testing.T) {
	priv, _ := keypair(t)
	routed := netip.MustParsePrefix("10.20.0.0/24")
	overlay := netip.MustParsePrefix("100.64.0.0/10")
	rb := &recordBind{sent: make(chan []byte, 16)}
	b, err := New(rb, Options{PrivateKey: priv, Tunneled: func(a netip.Addr) bool { return routed.Contains(a) || overlay.Contains(a) }})
	if err != nil {
		t.Fatal(err)
	}
	_, k := keypair(t)
	b.SetPeers([]Peer{{PublicKey: base64.StdEncoding.EncodeToString(k[:]), Name: "gw", Endpoints: []string{wan.String()}}})
	p := b.peers[k]
	for _, a := range []string{"10.20.0.2:51820", "100.64.0.2:51820"} {
		b.ping(p, netip.MustParseAddrPort(a))
		select {
		case pkt := <-rb.sent:
			t.Fatalf("a probe to %s went out (%d bytes)", a, len(pkt))
		default:
		}
		b.noteSource(netip.MustParseAddrPort(a), p)
		if b.bySource[netip.MustParseAddrPort(a)] != nil {
			t.Fatalf("%s learned as the peer's source", a)
		}
	}
	b.ping(p, wan)
	select {
	case <-rb.sent:
	default:
		t.Fatal("a probe to the peer's real address did not go out")
	}
}

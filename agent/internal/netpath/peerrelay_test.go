package netpath

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// node is a Bind on a real loopback UDP socket whose receive functions
// run as wireguard-go would run them; what would reach wireguard-go is
// kept.
type node struct {
	b    *Bind
	pub  relayframe.Key
	port uint16
	mu   sync.Mutex
	got  []received
}

type received struct {
	data string
	ep   conn.Endpoint
}

func newNode(t *testing.T) *node {
	priv, pub := keypair(t)
	b, err := New(conn.NewDefaultBind(), Options{PrivateKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{b: b, pub: pub, port: port}
	for _, fn := range fns {
		go func() {
			bufs := make([][]byte, b.BatchSize())
			for i := range bufs {
				bufs[i] = make([]byte, 2048)
			}
			sizes, eps := make([]int, len(bufs)), make([]conn.Endpoint, len(bufs))
			for {
				k, err := fn(bufs, sizes, eps)
				if err != nil {
					return
				}
				for i := 0; i < k; i++ {
					if sizes[i] > 0 {
						n.mu.Lock()
						n.got = append(n.got, received{string(bufs[i][:sizes[i]]), eps[i]})
						n.mu.Unlock()
					}
				}
			}
		}()
	}
	t.Cleanup(func() { b.Close() })
	return n
}

func (n *node) key64() string { return base64.StdEncoding.EncodeToString(n.pub[:]) }

func (n *node) addr() string {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), n.port).String()
}

func (n *node) received(data string) (conn.Endpoint, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.got {
		if r.data == data {
			return r.ep, true
		}
	}
	return nil, false
}

// send sends a packet to peer as wireguard-go would (to its synthetic
// endpoint).
func (n *node) send(t *testing.T, peer *node, data string) {
	ep, err := n.b.ParseEndpoint(Synthetic(peer.pub).String())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.b.Send([][]byte{[]byte(data)}, ep); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
	}
}

// TestPeerRelay: two peers that have no direct path (their map addresses
// lead nowhere) and no server relay bind to a relay machine, find each
// other through it and carry packets through it, attributed to the right
// peer; the relay forwards only pairs the server allows, and a packet it
// forges (a pong) does not verify.
func TestPeerRelay(t *testing.T) {
	a, b, c, r := newNode(t), newNode(t), newNode(t), newNode(t)
	var asked sync.Map
	r.b.ServePeerRelay(true, func(_ context.Context, x, y string) error {
		asked.Store(x+y, true)
		if x == c.key64() || y == c.key64() {
			return errors.New("forbidden by the policy")
		}
		return nil
	}, 0)
	nowhere := []string{"192.0.2.1:9"} // TEST-NET-1: never answers
	relays := []wire.PeerRelay{{ID: "r", Name: "relay-1", PublicKey: r.key64(), Endpoints: []string{r.addr()}}}
	for _, x := range []struct {
		n     *node
		peers []*node
	}{{a, []*node{b, c}}, {b, []*node{a}}, {c, []*node{a}}} {
		var ps []Peer
		for _, p := range x.peers {
			ps = append(ps, Peer{PublicKey: p.key64(), ID: p.key64()[:8], Name: "peer", Endpoints: nowhere})
		}
		x.n.b.SetPeers(ps)
		x.n.b.SetPeerRelays(relays)
	}
	// Both ends have traffic: each probes, binds and pings.
	waitUntil(t, "a and b on the peer relay", 15*time.Second, func() bool {
		a.send(t, b, "\x04a-to-b")
		b.send(t, a, "\x04b-to-a")
		c.send(t, a, "\x04c-to-a")
		pa, _ := a.b.Path(b.key64())
		pb, _ := b.b.Path(a.key64())
		return pa.Path == "peer-relay" && pb.Path == "peer-relay"
	})
	if st, _ := a.b.Path(b.key64()); st.Relay != "relay-1" || st.Addr != r.addr() {
		t.Fatalf("a's path to b: %+v", st)
	}
	a.send(t, b, "\x04through the relay")
	waitUntil(t, "b receives a's packet", 5*time.Second, func() bool { _, ok := b.received("\x04through the relay"); return ok })
	ep, _ := b.received("\x04through the relay")
	if e, ok := ep.(*endpoint); !ok || e.p.key != a.pub {
		t.Fatalf("a's packet attributed to %T %v, want a's peer endpoint", ep, ep.DstToString())
	}
	if st := r.b.Status().PeerRelay; st == nil || st.Sessions < 1 || st.Forwarded == 0 {
		t.Fatalf("relay status %+v", st)
	}
	if a.b.Status().PeerRelayTx == 0 {
		t.Fatal("a counted no packets through the peer relay")
	}
	// c may not reach a: the relay asked and refused; c stays without a path.
	if _, ok := asked.Load(a.key64() + c.key64()); !ok {
		if _, ok := asked.Load(c.key64() + a.key64()); !ok {
			t.Fatal("the relay never asked about c and a")
		}
	}
	if st, _ := c.b.Path(a.key64()); st.Path == "peer-relay" {
		t.Fatal("c got a peer-relay path to a the server refused")
	}
	if _, ok := a.received("\x04c-to-a"); ok {
		t.Fatal("c's packet reached a through the relay")
	}
	// The relay forges a pong to a on b's session: its MAC does not verify.
	bad := a.b.Status().BadProbes
	a.b.mu.RLock()
	var index uint16
	for ri, p := range a.b.byRelayIndex {
		if p.key == b.pub {
			index = ri.index
		}
	}
	a.b.mu.RUnlock()
	forged := appendDisco(nil, discoMsg{typ: discoPong, sender: b.pub}, [32]byte{})
	aEP, _ := r.b.inner.ParseEndpoint(a.addr())
	if err := r.b.sendVia([][]byte{forged}, index, aEP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the forged pong rejected", 5*time.Second, func() bool { return a.b.Status().BadProbes > bad })
}

// TestBindAuthentication: a bind verifies only under the sender's key, and
// any flipped byte fails; a bound answer likewise.
func TestBindAuthentication(t *testing.T) {
	aPriv, aPub := keypair(t)
	rPriv, rPub := keypair(t)
	_, bPub := keypair(t)
	ka, _ := relayKey(aPriv, rPub)
	kr, _ := relayKey(rPriv, aPub)
	if ka != kr {
		t.Fatal("peer and relay derive different keys")
	}
	pkt := appendBind(nil, aPub, bPub, 42, ka)
	if !isBind(pkt) || !verifyMAC(pkt, bindBody, kr) {
		t.Fatal("a valid bind does not verify")
	}
	for i := range pkt {
		bad := append([]byte(nil), pkt...)
		bad[i] ^= 1
		if isBind(bad) && verifyMAC(bad, bindBody, kr) {
			t.Fatalf("flipping byte %d still verifies", i)
		}
	}
	bound := appendBound(nil, bPub, 42, 7, true, kr)
	if !isBound(bound) || !verifyMAC(bound, boundBody, ka) {
		t.Fatal("a valid bound answer does not verify")
	}
	for _, typ := range []byte{1, 2, 3, 4} {
		if isRelayData([]byte{typ, 0, 0, 0, 1}) {
			t.Fatalf("WireGuard message type %d taken for relayed data", typ)
		}
	}
}

// FuzzPeerRelayReceive feeds arbitrary datagrams to a Bind that is both a
// relay and a peer using one: nothing panics, and what is passed on to
// wireguard-go is never longer than what arrived.
func FuzzPeerRelayReceive(f *testing.F) {
	priv, pub := keypair(f)
	_, other := keypair(f)
	b, err := New(conn.NewDefaultBind(), Options{PrivateKey: priv})
	if err != nil {
		f.Fatal(err)
	}
	b.ServePeerRelay(true, func(context.Context, string, string) error { return nil }, 0)
	b.SetPeers([]Peer{{PublicKey: base64.StdEncoding.EncodeToString(other[:]), ID: "o", Name: "o"}})
	b.SetPeerRelays([]wire.PeerRelay{{PublicKey: base64.StdEncoding.EncodeToString(other[:]), Name: "r", Endpoints: []string{"127.0.0.1:1"}}})
	ep, err := b.inner.ParseEndpoint("127.0.0.1:1")
	if err != nil {
		f.Fatal(err)
	}
	k, _ := relayKey(priv, other)
	f.Add(appendBind(nil, other, pub, uint64(time.Now().UnixNano()), k))
	f.Add(appendBound(nil, other, 1, 1, true, k))
	f.Add([]byte{relayData, 0, 1, 4, 0, 0, 0})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		buf := append(make([]byte, 0, len(pkt)+16), pkt...)
		packets, sizes, eps := [][]byte{buf}, []int{len(pkt)}, []conn.Endpoint{ep}
		b.peerRelayReceive(packets, sizes, eps, 1)
		if sizes[0] < 0 || sizes[0] > len(pkt) {
			t.Fatalf("passed on %d bytes of %d", sizes[0], len(pkt))
		}
	})
}

// A peer relay whose ping goes unanswered for several round trips keeps
// carrying the packets, and the server's relay carries them too, well
// before trustFor would give the path up; its pong ends that.
func TestUnansweredPeerRelayAddsTheServerRelay(t *testing.T) {
	p := newPeer(wan)
	rp := &relayPath{relay: &knownRelay{name: "r"}, ep: &endpoint{}, ready: true, latency: time.Millisecond}
	p.viaRelays = map[relayframe.Key]*relayPath{{1}: rp}
	rp.lastPong, rp.lastPing = tick(0), tick(0)
	if d := p.decide(tick(100*time.Millisecond), true); d.via != rp || d.relay {
		t.Fatalf("answered peer relay: %+v", d)
	}
	rp.lastPing = tick(time.Second) // a heartbeat, unanswered
	if d := p.decide(tick(time.Second+100*time.Millisecond), true); d.via != rp || d.relay {
		t.Fatalf("100 ms after the heartbeat: %+v, want the peer relay alone", d)
	}
	if d := p.decide(tick(time.Second+relayPongWait), true); d.via != rp || !d.relay {
		t.Fatalf("%v after an unanswered heartbeat: %+v, want both relays", relayPongWait, d)
	}
	rp.lastPong = tick(time.Second + 250*time.Millisecond)
	if d := p.decide(tick(time.Second+300*time.Millisecond), true); d.via != rp || d.relay {
		t.Fatalf("after the pong: %+v", d)
	}
	if d := p.decide(tick(time.Second+250*time.Millisecond+trustFor), true); d.via != nil || !d.relay {
		t.Fatalf("trustFor after the last pong: %+v, want the server's relay", d)
	}
}

package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// fakeMap is the network map: machines by ID, and a channel closed on
// every change.
type fakeMap struct {
	mu      sync.Mutex
	peers   map[string]wire.Peer
	applied chan struct{}
}

func (m *fakeMap) Peer(id string) (wire.Peer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.peers[id]
	return p, ok
}

func (m *fakeMap) Applied() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applied
}

func (m *fakeMap) set(id string, p *wire.Peer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p == nil {
		delete(m.peers, id)
	} else {
		m.peers[id] = *p
	}
	close(m.applied)
	m.applied = make(chan struct{})
}

func key(b byte) relayframe.Key {
	var k relayframe.Key
	for i := range k {
		k[i] = b
	}
	return k
}

type rig struct {
	t    testing.TB
	m    *fakeMap
	srv  *Server
	url  string // the agents' WebSocket URL
	base string // the server's (replicas link to it)
}

// newRig serves the relay over real HTTP; the test handler stands in for
// the API's credential check (tested in package api) and admits the
// machine named by the Authorization header.
func newRig(t testing.TB, cfg Config) *rig {
	m := &fakeMap{peers: map[string]wire.Peer{}, applied: make(chan struct{})}
	for i, id := range []string{"m_a", "m_b", "m_c"} {
		k := key(byte(i + 1))
		m.peers[id] = wire.Peer{ID: id, Name: id, PublicKey: base64.StdEncoding.EncodeToString(k[:])}
	}
	s := New(m, slog.New(slog.DiscardHandler), nil, cfg)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == PathMesh {
			s.ServeMesh(w, r)
			return
		}
		p, ok := m.Peer(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if !ok {
			http.Error(w, "unknown", http.StatusUnauthorized)
			return
		}
		s.Serve(w, r, wire.Machine{ID: p.ID, Name: p.Name, PublicKey: p.PublicKey})
	}))
	ctx, cancel := context.WithCancel(context.Background())
	go s.Watch(ctx)
	t.Cleanup(func() { cancel(); hs.Close() })
	return &rig{t: t, m: m, srv: s, url: "ws" + strings.TrimPrefix(hs.URL, "http"), base: hs.URL}
}

func (r *rig) dial(id string) *websocket.Conn { return r.dialWith(id) }

// dialWith dials a session offering subprotocols (relayframe.Protocol2:
// batches).
func (r *rig) dialWith(id string, protocols ...string) *websocket.Conn {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, r.url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + id}}, Subprotocols: protocols})
	if err != nil {
		r.t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	r.t.Cleanup(func() { c.CloseNow() })
	deadline := time.Now().Add(5 * time.Second)
	for !r.srv.Connected(id) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, typ websocket.MessageType, b []byte) {
	t.Helper()
	if err := c.Write(context.Background(), typ, b); err != nil {
		t.Fatal(err)
	}
}

func recv(t *testing.T, c *websocket.Conn) relayframe.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := relayframe.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestForwardsBetweenMachines(t *testing.T) {
	r := newRig(t, Config{})
	a, b := r.dial("m_a"), r.dial("m_b")
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("to b")))
	f := recv(t, b)
	if f.Type != relayframe.TypeRecv || f.Key != key(1) || string(f.Payload) != "to b" {
		t.Fatalf("b got %+v, want Recv from a's key", f)
	}
	send(t, b, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(1), []byte("to a")))
	if f := recv(t, a); f.Key != key(2) || string(f.Payload) != "to a" {
		t.Fatalf("a got %+v", f)
	}
	// The counter moves just after the frame is queued, so the receiver
	// can see the frame first: wait for it briefly.
	for deadline := time.Now().Add(2 * time.Second); testutil.ToFloat64(r.srv.bytes) != 8 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := testutil.ToFloat64(r.srv.bytes); got != 8 {
		t.Errorf("relayed bytes %v, want 8", got)
	}
	// No session for c: the sender is told, so it can try a direct path.
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(3), []byte("to c")))
	if f := recv(t, a); f.Type != relayframe.TypeNoPeer || f.Key != key(3) {
		t.Fatalf("a got %+v, want NoPeer for c", f)
	}
	// When c connects, a (which tried to reach it) is told, b is not.
	r.dial("m_c")
	if f := recv(t, a); f.Type != relayframe.TypePresent || f.Key != key(3) {
		t.Fatalf("a got %+v, want Present for c", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, msg, err := b.Read(ctx); err == nil {
		t.Fatalf("b, which never sent to c, got %x", msg)
	}
}

func TestWaitingIsBounded(t *testing.T) {
	r := newRig(t, Config{})
	a := r.dial("m_a")
	// An agent sending to ever new keys leaves at most maxWaiting entries.
	now := time.Now()
	for i := range maxWaiting + 100 {
		var k relayframe.Key
		k[0], k[1], k[2] = byte(i), byte(i>>8), 0xee
		r.srv.wait(r.srv.byID["m_a"], k, now)
	}
	if r.srv.nWaiting != maxWaiting {
		t.Fatalf("waiting %d, want the cap %d", r.srv.nWaiting, maxWaiting)
	}
	// Expired entries make room again.
	r.srv.wait(r.srv.byID["m_a"], key(9), now.Add(presentWindow))
	if r.srv.nWaiting != 1 {
		t.Fatalf("waiting %d after expiry, want 1", r.srv.nWaiting)
	}
	_ = a
}

func TestDropsBadFramesAndKeepsTheSession(t *testing.T) {
	r := newRig(t, Config{})
	a, b := r.dial("m_a"), r.dial("m_b")
	bad := [][]byte{
		{},
		{relayframe.TypeSend, 1, 2},
		relayframe.Append(nil, 9, key(2), []byte("x")),
		relayframe.Append(nil, relayframe.TypeRecv, key(2), []byte("spoofed")), // only the server sends Recv
		relayframe.Append(nil, relayframe.TypeSend, key(2), make([]byte, relayframe.MaxPayload+100)),
	}
	for _, f := range bad {
		send(t, a, websocket.MessageBinary, f)
	}
	send(t, a, websocket.MessageText, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("text")))
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("after")))
	if f := recv(t, b); string(f.Payload) != "after" {
		t.Fatalf("b got %q first, want only the good frame", f.Payload)
	}
	if got := testutil.ToFloat64(r.srv.dropped.WithLabelValues(DropMalformed)); got != float64(len(bad)+1) {
		t.Errorf("malformed drops %v, want %d", got, len(bad)+1)
	}
	// A message beyond the read limit ends the sender's session, not the server.
	send(t, a, websocket.MessageBinary, make([]byte, readLimit+1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := a.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: %v, want close 1009", err)
	}
	send(t, r.dial("m_c"), websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("still serving")))
	if f := recv(t, b); string(f.Payload) != "still serving" {
		t.Fatalf("b got %q", f.Payload)
	}
}

func TestRevocationEndsTheSession(t *testing.T) {
	r := newRig(t, Config{})
	a, b := r.dial("m_a"), r.dial("m_b")
	r.m.set("m_b", nil) // revoked
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := b.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("revoked machine's read: %v, want close 1008", err)
	}
	if r.srv.Connected("m_b") {
		t.Fatal("revoked machine still has a session")
	}
	// Its packets go nowhere, and packets to it are refused.
	send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("to revoked")))
	if f := recv(t, a); f.Type != relayframe.TypeNoPeer {
		t.Fatalf("a got %+v, want NoPeer", f)
	}
	// A re-keyed machine's session ends too (it reconnects under the new key).
	p, _ := r.m.Peer("m_a")
	k := key(9)
	p.PublicKey = base64.StdEncoding.EncodeToString(k[:])
	r.m.set("m_a", &p)
	if _, _, err := a.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("re-keyed machine's read: %v, want close 1008", err)
	}
}

func TestNewerSessionReplacesOlder(t *testing.T) {
	r := newRig(t, Config{})
	old := r.dial("m_a")
	cur := r.dial("m_a")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := old.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("old session: %v, want close 1008", err)
	}
	b := r.dial("m_b")
	send(t, b, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(1), []byte("hi")))
	if f := recv(t, cur); string(f.Payload) != "hi" {
		t.Fatalf("current session got %q", f.Payload)
	}
}

func TestRateLimitPerMachine(t *testing.T) {
	r := newRig(t, Config{Rate: 20000, Burst: 1}) // the burst is raised to one frame
	a, b := r.dial("m_a"), r.dial("m_b")
	payload := bytes.Repeat([]byte{1}, 1000)
	for range 20 {
		send(t, a, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), payload))
	}
	// Wait until the server has handled all 20, then read what it passed.
	deadline := time.Now().Add(5 * time.Second)
	for testutil.ToFloat64(r.srv.packets)+testutil.ToFloat64(r.srv.dropped.WithLabelValues(DropRate)) < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	passed := int(testutil.ToFloat64(r.srv.packets))
	if passed >= 20 || passed == 0 {
		t.Fatalf("%d of a's 20 frames passed at 20,000 B/s; want some, not all", passed)
	}
	for range passed {
		if f := recv(t, b); f.Key != key(1) {
			t.Fatalf("b got %+v", f)
		}
	}
	// Another machine has its own budget.
	send(t, r.dial("m_c"), websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, key(2), []byte("c is not limited by a")))
	if f := recv(t, b); string(f.Payload) != "c is not limited by a" {
		t.Fatalf("b got %q", f.Payload)
	}
}

func TestCloseEndsEverySession(t *testing.T) {
	r := newRig(t, Config{})
	a := r.dial("m_a")
	r.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := a.Read(ctx); websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after Close: %v, want close 1001", err)
	}
}

// BenchmarkRelayThroughput relays 1,400-byte packets (a full WireGuard
// packet on the default 1280 MTU plus headroom) from one agent's
// WebSocket to another's over loopback HTTP: b.SetBytes makes -bench
// print MB/s of payload.
func BenchmarkRelayThroughput(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { relayThroughput(b, batch, false) })
	}
	// Across replicas: the sender's session on one relay, the receiver's
	// on another, the frames crossing the mesh link between them.
	b.Run("batch=32/across-replicas", func(b *testing.B) { relayThroughput(b, 32, true) })
}

// relayThroughput sends 1,400-byte packets from one session to another,
// batch packets per message (1: the protocol before batches, which old
// agents still speak), on one relay or across two in a mesh.
func relayThroughput(b *testing.B, batch int, across bool) {
	cfg := Config{Rate: 1e12, Burst: 1 << 30, Queue: 4096}
	var protocols []string
	if batch > 1 {
		protocols = []string{relayframe.Protocol2}
	}
	src, dst := relayPair(b, cfg, across, protocols)
	msg := relayframe.Append(nil, relayframe.TypeSend, key(2), make([]byte, 1400))
	if batch > 1 {
		msg = relayframe.NewBatch(nil)
		for range batch {
			msg = relayframe.AppendBatched(msg, relayframe.TypeSend, key(2), make([]byte, 1400))
		}
	}
	var received atomic.Int64
	done := make(chan struct{})
	b.SetBytes(1400)
	b.ResetTimer()
	go func() {
		defer close(done)
		for received.Load() < int64(b.N) {
			_, m, err := dst.Read(context.Background())
			if err != nil {
				return
			}
			if relayframe.IsBatch(m) {
				n := 0
				relayframe.Split(m, func([]byte) { n++ })
				received.Add(int64(n))
			} else {
				received.Add(1)
			}
		}
	}()
	for sent := 0; sent < b.N; sent += batch {
		if err := src.Write(context.Background(), websocket.MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
		// Keep at most 1,024 packets in flight: the relay drops rather
		// than buffers beyond its queue, like the network it stands in for.
		for int64(sent)-received.Load() > 1024 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	<-done
	b.StopTimer()
	if got := received.Load(); got < int64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
}

// BenchmarkTLSLimit is the ceiling of a relay on this CPU: every relayed
// byte is decrypted once (from the sender's TLS) and encrypted once (to
// the receiver's), AES-128-GCM as TLS 1.3 negotiates it here, in 16 KiB
// records. MB/s of payload per core.
func BenchmarkTLSLimit(b *testing.B) {
	block, _ := aes.NewCipher(make([]byte, 16))
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rec := make([]byte, 16<<10)
	sealed := make([]byte, 0, len(rec)+gcm.Overhead())
	opened := make([]byte, 0, len(rec))
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		sealed = gcm.Seal(sealed[:0], nonce, rec, nil)
		var err error
		if opened, err = gcm.Open(opened[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// relayPair connects m_a and m_b: to one relay, or to two in a mesh (a
// to the first, b to the second), once the sessions are published.
func relayPair(b *testing.B, cfg Config, across bool, protocols []string) (*websocket.Conn, *websocket.Conn) {
	if !across {
		r := newRig(b, cfg)
		return r.dialWith("m_a", protocols...), r.dialWith("m_b", protocols...)
	}
	k := []byte("0123456789abcdef0123456789abcdef")
	rigs, db := meshRigsWith(b, cfg, map[string][]byte{"r1": k, "r2": k}, "r1", "r2")
	src, dst := rigs[0].dialWith("m_a", protocols...), rigs[1].dialWith("m_b", protocols...)
	waitFor(b, "linked and published", func() bool {
		return linked(rigs[0], "r2") && published(db, key(1)) && published(db, key(2))
	})
	// One frame each way first: the lookups, during which at most
	// maxPending frames wait, are not what is measured.
	ctx := context.Background()
	for _, p := range []struct {
		from, to *websocket.Conn
		k        relayframe.Key
	}{{src, dst, key(2)}, {dst, src, key(1)}} {
		if err := p.from.Write(ctx, websocket.MessageBinary, relayframe.Append(nil, relayframe.TypeSend, p.k, []byte("warm"))); err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.to.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return src, dst
}

// BenchmarkRelayRoundTrip: one 100-byte packet from a to b and back, on
// one relay and across two replicas' (the mesh's added latency); reports
// the median round trip.
func BenchmarkRelayRoundTrip(b *testing.B) {
	for _, across := range []bool{false, true} {
		name := "one-relay"
		if across {
			name = "across-replicas"
		}
		b.Run(name, func(b *testing.B) {
			a, c := relayPair(b, Config{}, across, []string{relayframe.Protocol2})
			ctx := context.Background()
			ping := relayframe.Append(nil, relayframe.TypeSend, key(2), make([]byte, 100))
			pong := relayframe.Append(nil, relayframe.TypeSend, key(1), make([]byte, 100))
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
					if c.Write(ctx, websocket.MessageBinary, pong) != nil {
						return
					}
				}
			}()
			rtts := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				if err := a.Write(ctx, websocket.MessageBinary, ping); err != nil {
					b.Fatal(err)
				}
				if _, _, err := a.Read(ctx); err != nil {
					b.Fatal(err)
				}
				rtts = append(rtts, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "µs-p50")
		})
	}
}

// Batches both ways: an agent that speaks Protocol2 may send several
// packets in one message, each is forwarded (and charged) as a lone one
// would be, and a receiver that speaks it gets what is queued for it in
// batches; a receiver that does not (an old agent) gets lone frames.
func TestBatches(t *testing.T) {
	r := newRig(t, Config{})
	a := r.dialWith("m_a", relayframe.Protocol2)
	newB := r.dialWith("m_b", relayframe.Protocol2)
	if a.Subprotocol() != relayframe.Protocol2 {
		t.Fatalf("subprotocol %q", a.Subprotocol())
	}
	msg := relayframe.NewBatch(nil)
	for i := range 5 {
		msg = relayframe.AppendBatched(msg, relayframe.TypeSend, key(2), []byte{byte(i)})
	}
	send(t, a, websocket.MessageBinary, msg)
	var got []byte
	for len(got) < 5 {
		_, m, err := newB.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		deliver := func(fr []byte) {
			f, err := relayframe.Parse(fr)
			if err != nil || f.Type != relayframe.TypeRecv || f.Key != key(1) {
				t.Fatalf("frame %+v %v", f, err)
			}
			got = append(got, f.Payload...)
		}
		if relayframe.IsBatch(m) {
			relayframe.Split(m, deliver)
		} else {
			deliver(m)
		}
	}
	if string(got) != "\x00\x01\x02\x03\x04" {
		t.Fatalf("payloads in order: %v", got)
	}
	// An old agent (no subprotocol): lone frames, never a batch.
	old := r.dialWith("m_c")
	if old.Subprotocol() != "" {
		t.Fatalf("an old agent got subprotocol %q", old.Subprotocol())
	}
	msg = relayframe.NewBatch(nil)
	for i := range 5 {
		msg = relayframe.AppendBatched(msg, relayframe.TypeSend, key(3), []byte{byte(i)})
	}
	send(t, a, websocket.MessageBinary, msg)
	for i := range 5 {
		f := recv(t, old)
		if f.Type != relayframe.TypeRecv || len(f.Payload) != 1 || f.Payload[0] != byte(i) {
			t.Fatalf("old agent, frame %d: %+v", i, f)
		}
	}
	// A batch from an old agent is not a frame it may send: dropped.
	send(t, old, websocket.MessageBinary, msg)
	time.Sleep(50 * time.Millisecond)
	if testutil.ToFloat64(r.srv.dropped.WithLabelValues(DropMalformed)) == 0 {
		t.Fatal("a batch on an old session was not dropped as malformed")
	}
	// A malformed batch: the frames before the bad length go on.
	bad := relayframe.AppendBatched(relayframe.NewBatch(nil), relayframe.TypeSend, key(2), []byte("ok"))
	bad = append(bad, 0xff)
	send(t, a, websocket.MessageBinary, bad)
	if f := recv(t, newB); string(f.Payload) != "ok" {
		t.Fatalf("the good frame of a torn batch: %+v", f)
	}
}

// A sender of header-only frames is held to its byte budget: every frame
// costs FrameCost beyond its bytes. Before, only payload counted, and
// such frames went through without limit.
func TestHeaderOnlyFloodIsHeldToTheBudget(t *testing.T) {
	const rateBps = 2000
	r := newRig(t, Config{Rate: rateBps, Burst: 1}) // the burst is raised to one frame
	a, _ := r.dial("m_a"), r.dial("m_b")
	start := time.Now()
	frame := relayframe.Append(nil, relayframe.TypeSend, key(2), nil)
	for range 2000 {
		send(t, a, websocket.MessageBinary, frame)
	}
	time.Sleep(200 * time.Millisecond)
	passed := testutil.ToFloat64(r.srv.packets)
	elapsed := time.Since(start).Seconds()
	burst := float64(relayframe.MaxFrame + FrameCost)
	allowed := (burst+rateBps*elapsed)/float64(FrameCost+len(frame)) + 1
	if passed > allowed || passed == 0 {
		t.Fatalf("%v header-only frames passed in %.2f s at %d B/s; the budget allows %.0f", passed, elapsed, rateBps, allowed)
	}
	if testutil.ToFloat64(r.srv.dropped.WithLabelValues(DropRate)) == 0 {
		t.Fatal("no frame was dropped for the rate")
	}
}

// A client frame without a mask breaks RFC 6455: the relay closes with
// 1002 (protocol error), not 1000.
func TestUnmaskedClientFrameIsAProtocolError(t *testing.T) {
	r := newRig(t, Config{})
	u := strings.TrimPrefix(r.url, "ws://")
	c, err := net.DialTimeout("tcp", u, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer m_a\r\n\r\n", u)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	c.Write([]byte{0x82, 3, 'a', 'b', 'c'}) // FIN, binary, no mask bit
	var head [2]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		t.Fatal(err)
	}
	if head[0]&0x0f != 0x8 || head[1] < 2 {
		t.Fatalf("first frame from the server: % x, want a close", head)
	}
	body := make([]byte, head[1])
	io.ReadFull(br, body)
	if code := websocket.StatusCode(binary.BigEndian.Uint16(body)); code != websocket.StatusProtocolError {
		t.Fatalf("close code %d (%q), want 1002", code, body[2:])
	}
}

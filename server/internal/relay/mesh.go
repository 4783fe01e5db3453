package relay

// The mesh: the relay across server replicas. Replicas behind one load
// balancer each hold the relay sessions of the agents that happened to
// connect to them; without the mesh, two machines behind symmetric NAT
// whose sessions landed on different replicas could not reach each other.
//
// Each replica renews a lease in the shared database (its direct URL and
// certificate pin, every Lease/3) and publishes which machines' sessions
// it holds, keyed by WireGuard key. A frame for a key with no local
// session is looked up there once (then cached, revalidated in the
// background every few seconds) and sent over the link to the replica
// that holds it; that replica delivers it, or answers "gone" so the
// sender looks again. A dead replica's entries count for nothing once
// its lease runs out; its agents reconnect to a live replica, which
// publishes them anew.
//
// Links: one WebSocket per pair of replicas, dialled by the one with the
// smaller ID to the other's direct URL (pinned to the pin it published,
// like agents pin the server), carrying batches of frames both ways.
// Both ends prove they hold the operator's shared mesh key by an HMAC
// over the other's fresh nonce: a key, not mutual TLS, because replicas
// often share one certificate, some run behind a TLS-terminating proxy
// (--insecure-http) and asking browsers on the shared HTTPS port for
// client certificates is not acceptable.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirefleet/wirefleet/pkg/pin"
	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Directory is where replicas find each other and each other's sessions:
// the shared database (*store.DB).
type Directory interface {
	RenewReplica(ctx context.Context, r store.Replica) error
	LiveReplicas(ctx context.Context) ([]store.Replica, error)
	PublishRelaySessions(ctx context.Context, replica string, opened []store.RelaySession, closed []string) error
	LocateRelaySession(ctx context.Context, pub string) (store.Replica, error)
	LeaveRelay(ctx context.Context, id string) error
	PruneRelay(ctx context.Context, cutoff time.Time) (int64, error)
}

// MeshConfig joins a relay to the other replicas'.
type MeshConfig struct {
	// ID names this replica; empty: a random one (a restarted replica is a
	// new one: its predecessor's entries die with its lease).
	ID string
	// URL is where the other replicas reach this one directly
	// (https://10.0.0.5:8443), not the load balancer's address.
	URL string
	// Pin returns this replica's certificate pin now ("" when a CA vouches
	// for it, or without TLS).
	Pin func() string
	// Keys are the shared mesh keys: the first proves this replica, any
	// of them is accepted from another (two while a key is rotated).
	Keys [][]byte
	Dir  Directory
	// Lease is how long a replica counts as running after it last renewed
	// (default 6 s): a dead replica's sessions are looked for elsewhere
	// after at most this.
	Lease time.Duration
}

// PathMesh is where replicas connect to each other (on the HTTPS port).
const PathMesh = wire.PathRelayMesh

// MeshProtocol is the mesh links' WebSocket subprotocol.
const MeshProtocol = "wirefleet-mesh-1"

// Mesh frames, in messages of [len u16][frame]…:
//
//	send: 0x01 | source key | destination key | payload
//	gone: 0x02 | key          (no session for key here: look again)
const (
	meshSend   byte = 1
	meshGone   byte = 2
	meshHeader      = 1 + 2*relayframe.KeyLen
	// maxMeshMessage bounds a link's messages (the read limit).
	maxMeshMessage = relayframe.MaxBatch + 2 + meshHeader + relayframe.MaxPayload
)

// Timing of lookups: a found session is used for hitTTL before it is
// checked again in the background; "no session anywhere" is believed for
// missTTL; a replica found but not linked is not looked for again for
// missTTL. maxPending frames wait for a lookup per key; maxRoutes bounds
// the cache.
const (
	hitTTL     = 5 * time.Second
	missTTL    = time.Second
	maxPending = 16
	maxRoutes  = 1 << 16
	authWait   = 5 * time.Second
	pruneAfter = time.Minute
)

// DropMesh is a frame for a session on a replica this one has no link to
// (it died; its agents are reconnecting elsewhere), or one that waited
// for a lookup in a full queue.
const DropMesh = "mesh"

var replicaIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

type mesh struct {
	s   *Server
	cfg MeshConfig
	// client dials the other replicas; its pin check reads pins.
	mu      sync.Mutex
	links   map[string]*link
	dialing map[string]bool
	routes  map[relayframe.Key]*route
	pub     map[string]string // key64 → machine ID (opened) or "" (closed), not yet written
	kick    chan struct{}
	ctx     context.Context

	linkGauge prometheus.Gauge
	frames    *prometheus.CounterVec
}

// route is what this replica knows of where a key's session is.
type route struct {
	replica string
	found   bool
	at      time.Time // when looked up (zero: never)
	busy    bool      // a lookup is in flight
	hold    bool      // frames wait for it (nothing usable meanwhile)
	pending []pendingFrame
}

type pendingFrame struct {
	sess *session
	bp   *[]byte
}

// link is the connection to one other replica.
type link struct {
	peer string
	conn *websocket.Conn
	out  chan meshItem
	once sync.Once
}

type meshItem struct {
	typ byte
	key relayframe.Key // the sender's for meshSend, the absent one for meshGone
	bp  *[]byte        // meshSend: the sender's frame (TypeSend | destination | payload)
}

func (l *link) close(code websocket.StatusCode, reason string) {
	l.once.Do(func() { go l.conn.Close(code, reason) })
}

// RunMesh joins this relay to the other replicas' until ctx ends, then
// leaves (its entries are removed at once rather than by lease). Call it
// before the relay serves sessions, so that every session is published.
func (s *Server) RunMesh(ctx context.Context, cfg MeshConfig) error {
	if cfg.Dir == nil || cfg.URL == "" || len(cfg.Keys) == 0 {
		return errors.New("relay: the mesh needs a directory, this replica's URL and a mesh key")
	}
	for _, k := range cfg.Keys {
		if len(k) < 16 {
			return errors.New("relay: a mesh key must have at least 16 bytes")
		}
	}
	if cfg.ID == "" {
		var b [6]byte
		rand.Read(b[:])
		cfg.ID = hex.EncodeToString(b[:])
	}
	if !replicaIDPattern.MatchString(cfg.ID) {
		return fmt.Errorf("relay: replica ID %q: use lower-case letters, digits and '-'", cfg.ID)
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 6 * time.Second
	}
	if cfg.Pin == nil {
		cfg.Pin = func() string { return "" }
	}
	m := &mesh{s: s, cfg: cfg, links: map[string]*link{}, dialing: map[string]bool{}, routes: map[relayframe.Key]*route{},
		pub: map[string]string{}, kick: make(chan struct{}, 1), ctx: ctx,
		linkGauge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wirefleet_relay_mesh_links", Help: "Links to other server replicas' relays."}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wirefleet_relay_mesh_packets_total",
			Help: "Packets sent to (out) and received from (in) other replicas' relays."}, []string{"direction"}),
	}
	if s.reg != nil {
		s.reg.MustRegister(m.linkGauge, m.frames)
	}
	s.mu.Lock()
	if s.mesh != nil {
		s.mu.Unlock()
		return errors.New("relay: already in a mesh")
	}
	s.mesh = m
	for _, sess := range s.byID { // sessions that opened before the mesh
		m.pub[sess.key64] = sess.id
	}
	s.mu.Unlock()
	s.log.Info("relay: joining the other replicas", "replica", cfg.ID, "url", cfg.URL)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.publish(ctx) }()
	m.maintain(ctx)
	wg.Wait()
	m.mu.Lock()
	for _, l := range m.links {
		l.close(websocket.StatusGoingAway, "replica shutting down")
	}
	m.mu.Unlock()
	lctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return cfg.Dir.LeaveRelay(lctx, cfg.ID)
}

// maintain renews the lease, links to the replicas with a larger ID,
// drops links to replicas whose lease ran out, and prunes dead ones.
func (m *mesh) maintain(ctx context.Context) {
	t := time.NewTicker(m.cfg.Lease / 3)
	defer t.Stop()
	var lastOK, lastPrune time.Time
	for {
		now := time.Now()
		err := m.cfg.Dir.RenewReplica(ctx, store.Replica{ID: m.cfg.ID, URL: m.cfg.URL, Pin: m.cfg.Pin(), Expires: now.Add(m.cfg.Lease)})
		if err != nil && ctx.Err() == nil {
			m.s.log.Warn("relay: cannot renew this replica's lease; other replicas will stop forwarding to it", "err", err)
		}
		if err == nil {
			if !lastOK.IsZero() && now.Sub(lastOK) > pruneAfter {
				m.republish() // others may have pruned our sessions meanwhile
			}
			lastOK = now
			m.link(ctx)
		}
		if now.Sub(lastPrune) > pruneAfter {
			lastPrune = now
			if n, err := m.cfg.Dir.PruneRelay(ctx, now.Add(-pruneAfter)); err == nil && n > 0 {
				m.s.log.Info("relay: removed the sessions of replicas that stopped", "sessions", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *mesh) link(ctx context.Context) {
	peers, err := m.cfg.Dir.LiveReplicas(ctx)
	if err != nil {
		return
	}
	live := map[string]bool{}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range peers {
		live[p.ID] = true
		if p.ID <= m.cfg.ID || m.links[p.ID] != nil || m.dialing[p.ID] {
			continue
		}
		m.dialing[p.ID] = true
		go m.dial(ctx, p)
	}
	for id, l := range m.links {
		if !live[id] {
			l.close(websocket.StatusGoingAway, "lease expired")
		}
	}
}

// republish queues every local session for publishing again.
func (m *mesh) republish() {
	m.s.mu.RLock()
	defer m.s.mu.RUnlock()
	m.mu.Lock()
	for _, sess := range m.s.byID {
		m.pub[sess.key64] = sess.id
	}
	m.mu.Unlock()
	m.poke()
}

func (m *mesh) poke() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// opened and closed note a local session for publishing.
func (m *mesh) opened(sess *session) {
	m.mu.Lock()
	m.pub[sess.key64] = sess.id
	m.mu.Unlock()
	m.poke()
}

func (m *mesh) closed(sess *session) {
	m.mu.Lock()
	m.pub[sess.key64] = ""
	m.mu.Unlock()
	m.poke()
}

// publish writes session changes to the directory, gathered for a moment
// so that many (a replica's agents reconnecting at once) go in one
// transaction.
func (m *mesh) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.kick:
		}
		time.Sleep(20 * time.Millisecond)
		m.mu.Lock()
		ops := m.pub
		m.pub = map[string]string{}
		m.mu.Unlock()
		var opened []store.RelaySession
		var closed []string
		for k, id := range ops {
			if id == "" {
				closed = append(closed, k)
			} else {
				opened = append(opened, store.RelaySession{PublicKey: k, MachineID: id})
			}
		}
		if err := m.cfg.Dir.PublishRelaySessions(ctx, m.cfg.ID, opened, closed); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.s.log.Warn("relay: cannot publish sessions to the other replicas; retrying", "err", err)
			m.mu.Lock()
			for k, id := range ops {
				if _, newer := m.pub[k]; !newer {
					m.pub[k] = id
				}
			}
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			m.poke()
		}
	}
}

// send forwards a frame (in bp: TypeSend | key | payload) from sess for
// key, which has no session here, to the replica holding it. It reports
// false when no replica does (the caller tells the sender NoPeer); it
// owns bp otherwise.
func (m *mesh) send(sess *session, key relayframe.Key, bp *[]byte) bool {
	now := time.Now()
	m.mu.Lock()
	r := m.routes[key]
	if r == nil {
		if len(m.routes) >= maxRoutes {
			m.pruneRoutes(now)
		}
		r = &route{}
		m.routes[key] = r
	}
	if r.busy && r.hold {
		m.pend(r, sess, bp)
		return true
	}
	ttl := hitTTL
	if !r.found {
		ttl = missTTL
	}
	fresh := !r.at.IsZero() && now.Sub(r.at) < ttl
	if !r.found && fresh {
		m.mu.Unlock()
		return false
	}
	var l *link
	if r.found {
		l = m.links[r.replica]
	}
	if l == nil {
		if r.found && now.Sub(r.at) < missTTL {
			// Found on a replica we have no link to (it just died, or
			// has not linked yet): drop rather than look again per packet.
			m.mu.Unlock()
			m.s.drop(bp, DropMesh)
			return true
		}
		r.busy, r.hold = true, true
		r.pending = r.pending[:0]
		m.pend(r, sess, bp)
		go m.locate(key)
		return true
	}
	if !fresh && !r.busy {
		r.busy = true // revalidate, keep using it meanwhile
		go m.locate(key)
	}
	m.mu.Unlock()
	l.enqueue(m.s, meshItem{typ: meshSend, key: sess.key, bp: bp})
	return true
}

// pend queues a frame for r's lookup; called with m.mu held, unlocks.
func (m *mesh) pend(r *route, sess *session, bp *[]byte) {
	if len(r.pending) < maxPending {
		r.pending = append(r.pending, pendingFrame{sess, bp})
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	m.s.drop(bp, DropMesh)
}

// pruneRoutes forgets the oldest half of the cache (called with m.mu
// held when it is full; lookups in flight stay).
func (m *mesh) pruneRoutes(now time.Time) {
	for k, r := range m.routes {
		if !r.busy && now.Sub(r.at) > missTTL {
			delete(m.routes, k)
		}
		if len(m.routes) < maxRoutes/2 {
			return
		}
	}
}

// locate looks key up in the directory and sends what waited for it.
func (m *mesh) locate(key relayframe.Key) {
	ctx, cancel := context.WithTimeout(m.ctx, 2*time.Second)
	rep, err := m.cfg.Dir.LocateRelaySession(ctx, base64Key(key))
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) && m.ctx.Err() == nil {
		m.s.log.Debug("relay: cannot look up a session on the other replicas", "err", err)
	}
	m.mu.Lock()
	r := m.routes[key]
	if r == nil {
		m.mu.Unlock()
		return
	}
	r.busy, r.hold, r.at = false, false, time.Now()
	switch {
	case err == nil:
		r.found, r.replica = rep.ID != m.cfg.ID, rep.ID
	case errors.Is(err, store.ErrNotFound):
		r.found = false
	}
	// Another error (the database hiccuped): what was known stands until
	// the next lookup.
	pending := r.pending
	r.pending = nil
	var l *link
	if r.found {
		l = m.links[r.replica]
	}
	m.mu.Unlock()
	for _, p := range pending {
		switch {
		case l != nil:
			l.enqueue(m.s, meshItem{typ: meshSend, key: p.sess.key, bp: p.bp})
		case r.found:
			m.s.drop(p.bp, DropMesh)
		default:
			m.s.noPeer(p.sess, key, p.bp)
		}
	}
}

func (l *link) enqueue(s *Server, it meshItem) {
	select {
	case l.out <- it:
	default:
		if it.bp != nil {
			s.drop(it.bp, DropQueue)
		}
	}
}

// ServeMesh accepts another replica's link (PathMesh).
func (s *Server) ServeMesh(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	m := s.mesh
	s.mu.RUnlock()
	if m == nil {
		http.Error(w, "this replica's relay is not in a mesh (no --relay-mesh-key-file)", http.StatusNotFound)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled, Subprotocols: []string{MeshProtocol}})
	if err != nil {
		return
	}
	if conn.Subprotocol() != MeshProtocol {
		conn.Close(websocket.StatusPolicyViolation, "speak "+MeshProtocol)
		return
	}
	peer, err := m.accept(conn)
	if err != nil {
		s.log.Warn("relay: refused a replica's link", "from", r.RemoteAddr, "err", err)
		conn.Close(websocket.StatusPolicyViolation, "mesh authentication failed")
		return
	}
	m.run(peer, conn)
}

// hello is the links' authentication, as JSON text messages.
type hello struct {
	Replica string `json:"replica,omitempty"`
	Nonce   []byte `json:"nonce,omitempty"`
	Proof   []byte `json:"proof,omitempty"`
}

// proof is what prover shows verifier: an HMAC, under a mesh key, of the
// verifier's nonce and both names, distinct per role.
func proof(key []byte, role string, nonce []byte, prover, verifier string) []byte {
	h := hmac.New(sha256.New, key)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00", MeshProtocol, role, prover, verifier)
	h.Write(nonce)
	return h.Sum(nil)
}

func (m *mesh) verify(got []byte, role string, nonce []byte, prover, verifier string) bool {
	ok := false
	for _, k := range m.cfg.Keys {
		ok = hmac.Equal(got, proof(k, role, nonce, prover, verifier)) || ok
	}
	return ok
}

func readHello(ctx context.Context, conn *websocket.Conn) (hello, error) {
	var h hello
	typ, b, err := conn.Read(ctx)
	if err != nil {
		return h, err
	}
	if typ != websocket.MessageText || len(b) > 1024 {
		return h, errors.New("not a hello")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("hello: %w", err)
	}
	return h, nil
}

func writeHello(ctx context.Context, conn *websocket.Conn, h hello) error {
	b, _ := json.Marshal(h)
	return conn.Write(ctx, websocket.MessageText, b)
}

func nonce() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// accept authenticates a dialling replica: it proves the key over our
// nonce after we proved it over theirs.
func (m *mesh) accept(conn *websocket.Conn) (string, error) {
	ctx, cancel := context.WithTimeout(m.ctx, authWait)
	defer cancel()
	conn.SetReadLimit(4096)
	h, err := readHello(ctx, conn)
	if err != nil {
		return "", err
	}
	if !replicaIDPattern.MatchString(h.Replica) || len(h.Nonce) != 32 || h.Replica == m.cfg.ID {
		return "", errors.New("malformed hello")
	}
	peer, ours := h.Replica, nonce()
	if err := writeHello(ctx, conn, hello{Replica: m.cfg.ID, Nonce: ours, Proof: proof(m.cfg.Keys[0], "acceptor", h.Nonce, m.cfg.ID, peer)}); err != nil {
		return "", err
	}
	h, err = readHello(ctx, conn)
	if err != nil {
		return "", err
	}
	if !m.verify(h.Proof, "dialer", ours, peer, m.cfg.ID) {
		return "", fmt.Errorf("replica %s does not hold a mesh key of ours", peer)
	}
	return peer, nil
}

// dial links to replica p and runs the link until it ends.
func (m *mesh) dial(ctx context.Context, p store.Replica) {
	defer func() {
		m.mu.Lock()
		delete(m.dialing, p.ID)
		m.mu.Unlock()
	}()
	conn, err := m.connect(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			m.s.log.Warn("relay: cannot link to another replica", "replica", p.ID, "url", p.URL, "err", err)
		}
		return
	}
	m.mu.Lock()
	delete(m.dialing, p.ID)
	m.mu.Unlock()
	m.run(p.ID, conn)
}

func (m *mesh) connect(ctx context.Context, p store.Replica) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, authWait)
	defer cancel()
	hc, err := pinnedClient(p.Pin)
	if err != nil {
		return nil, err
	}
	conn, _, err := websocket.Dial(dctx, strings.TrimRight(p.URL, "/")+PathMesh, &websocket.DialOptions{HTTPClient: hc,
		Subprotocols: []string{MeshProtocol}, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*websocket.Conn, error) {
		conn.Close(websocket.StatusPolicyViolation, "mesh authentication failed")
		return nil, err
	}
	if conn.Subprotocol() != MeshProtocol {
		return fail(errors.New("the replica does not speak " + MeshProtocol))
	}
	conn.SetReadLimit(4096)
	ours := nonce()
	if err := writeHello(dctx, conn, hello{Replica: m.cfg.ID, Nonce: ours}); err != nil {
		return fail(err)
	}
	h, err := readHello(dctx, conn)
	if err != nil {
		return fail(err)
	}
	if h.Replica != p.ID || len(h.Nonce) != 32 || !m.verify(h.Proof, "acceptor", ours, p.ID, m.cfg.ID) {
		return fail(fmt.Errorf("replica at %s is not %s holding a mesh key of ours", p.URL, p.ID))
	}
	if err := writeHello(dctx, conn, hello{Proof: proof(m.cfg.Keys[0], "dialer", h.Nonce, m.cfg.ID, p.ID)}); err != nil {
		return fail(err)
	}
	return conn, nil
}

// pinnedClient is the HTTP client for a replica with certificate pin p
// (the system roots when p is empty).
func pinnedClient(p string) (*http.Client, error) {
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	if p != "" {
		want, err := pin.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("replica's pin: %w", err)
		}
		tr.TLSClientConfig.InsecureSkipVerify = true // the pin check below replaces chain verification
		tr.TLSClientConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !hmac.Equal(pin.SPKIHash(cs.PeerCertificates[0]), want) {
				return errors.New("replica's certificate does not match the pin it published")
			}
			return nil
		}
	}
	return &http.Client{Transport: tr}, nil
}

// run carries a link until it ends. A newer link to the same replica
// replaces an older one.
func (m *mesh) run(peer string, conn *websocket.Conn) {
	conn.SetReadLimit(maxMeshMessage)
	l := &link{peer: peer, conn: conn, out: make(chan meshItem, 4*m.s.cfg.Queue)}
	m.mu.Lock()
	if old := m.links[peer]; old != nil {
		old.close(websocket.StatusNormalClosure, "replaced by a newer link")
	}
	m.links[peer] = l
	m.linkGauge.Set(float64(len(m.links)))
	m.mu.Unlock()
	m.s.log.Info("relay: linked to another replica", "replica", peer)
	ctx, cancel := context.WithCancel(m.ctx)
	go m.write(ctx, l)
	err := m.read(ctx, l)
	cancel()
	l.close(websocket.StatusNormalClosure, "bye")
	m.mu.Lock()
	if m.links[peer] == l {
		delete(m.links, peer)
	}
	m.linkGauge.Set(float64(len(m.links)))
	m.mu.Unlock()
	for {
		select {
		case it := <-l.out:
			if it.bp != nil {
				m.s.pool.Put(it.bp)
			}
			continue
		default:
		}
		break
	}
	m.s.log.Info("relay: link to another replica ended", "replica", peer, "err", err)
}

// write sends what is queued for the link, several frames per message.
func (m *mesh) write(ctx context.Context, l *link) {
	out := m.frames.WithLabelValues("out")
	bp := m.s.bpool.Get().(*[]byte)
	defer m.s.bpool.Put(bp)
	var next *meshItem
	for {
		var it meshItem
		if next != nil {
			it, next = *next, nil
		} else {
			select {
			case <-ctx.Done():
				return
			case it = <-l.out:
			}
		}
		msg := appendMesh((*bp)[:0], it)
		m.release(it)
		n := 1
	drain:
		for {
			select {
			case more := <-l.out:
				if len(msg)+2+meshLen(more) > relayframe.MaxBatch {
					next = &more
					break drain
				}
				msg = appendMesh(msg, more)
				m.release(more)
				n++
			default:
				break drain
			}
		}
		*bp = msg[:0]
		if err := l.conn.Write(ctx, websocket.MessageBinary, msg); err != nil {
			if next != nil {
				m.release(*next)
			}
			l.conn.CloseNow()
			return
		}
		out.Add(float64(n))
	}
}

func (m *mesh) release(it meshItem) {
	if it.bp != nil {
		m.s.pool.Put(it.bp)
	}
}

func meshLen(it meshItem) int {
	if it.typ == meshGone {
		return 1 + relayframe.KeyLen
	}
	return 1 + relayframe.KeyLen + len(*it.bp) - 1
}

// appendMesh appends an item as a mesh frame.
func appendMesh(b []byte, it meshItem) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(meshLen(it)))
	b = append(b, it.typ)
	b = append(b, it.key[:]...)
	if it.typ == meshSend {
		b = append(b, (*it.bp)[1:]...) // destination | payload
	}
	return b
}

// ErrMeshFrame is a mesh message that does not parse.
var ErrMeshFrame = errors.New("relay: malformed mesh frame")

// splitMesh calls fn with each frame's type, key, destination (send) and
// payload; it stops at the first malformed frame.
func splitMesh(b []byte, fn func(typ byte, key, dst relayframe.Key, payload []byte)) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return ErrMeshFrame
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b)-2 < n || n < 1+relayframe.KeyLen {
			return ErrMeshFrame
		}
		fr := b[2 : 2+n]
		b = b[2+n:]
		var key, dst relayframe.Key
		copy(key[:], fr[1:])
		switch fr[0] {
		case meshSend:
			if n < meshHeader || n-meshHeader > relayframe.MaxPayload {
				return ErrMeshFrame
			}
			copy(dst[:], fr[1+relayframe.KeyLen:])
			fn(meshSend, key, dst, fr[meshHeader:])
		case meshGone:
			if n != 1+relayframe.KeyLen {
				return ErrMeshFrame
			}
			fn(meshGone, key, dst, nil)
		default:
			return ErrMeshFrame
		}
	}
	return nil
}

// read delivers what another replica sends until the link ends.
func (m *mesh) read(ctx context.Context, l *link) error {
	in := m.frames.WithLabelValues("in")
	bp := m.s.bpool.Get().(*[]byte)
	defer m.s.bpool.Put(bp)
	for {
		typ, rd, err := l.conn.Reader(ctx)
		if err != nil {
			return err
		}
		b := (*bp)[:cap(*bp)]
		n, err := io.ReadFull(rd, b)
		switch {
		case err == nil: // the buffer is full: is there more?
			extra, err := io.Copy(io.Discard, rd)
			if err != nil {
				return err
			}
			if extra > 0 {
				return ErrMeshFrame // larger than any replica of ours sends
			}
		case err != io.EOF && err != io.ErrUnexpectedEOF:
			return err
		}
		if typ != websocket.MessageBinary {
			return ErrMeshFrame
		}
		err = splitMesh(b[:n], func(t byte, key, dst relayframe.Key, payload []byte) {
			if t == meshGone {
				m.gone(l, key)
				return
			}
			in.Inc()
			m.deliver(l, key, dst, payload)
		})
		if err != nil {
			m.s.dropped.WithLabelValues(DropMalformed).Inc()
		}
	}
}

// deliver hands a frame from another replica to the local session of dst,
// or tells the other replica it is gone.
func (m *mesh) deliver(l *link, src, dst relayframe.Key, payload []byte) {
	m.s.mu.RLock()
	d := m.s.byKey[dst]
	m.s.mu.RUnlock()
	if d == nil {
		l.enqueue(m.s, meshItem{typ: meshGone, key: dst})
		m.s.dropped.WithLabelValues(DropNoPeer).Inc()
		return
	}
	fp := m.s.pool.Get().(*[]byte)
	*fp = relayframe.Append((*fp)[:0], relayframe.TypeRecv, src, payload)
	if m.s.enqueue(d, fp) {
		m.s.bytes.Add(float64(len(payload)))
		m.s.packets.Inc()
	}
}

// gone forgets that key's session is on l's replica.
func (m *mesh) gone(l *link, key relayframe.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.routes[key]; r != nil && r.found && r.replica == l.peer && !r.busy {
		r.found, r.at = false, time.Time{}
	}
}

// Replica is this relay's replica ID in the mesh ("" outside one).
func (s *Server) Replica() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mesh == nil {
		return ""
	}
	return s.mesh.cfg.ID
}

func base64Key(k relayframe.Key) string { return base64.StdEncoding.EncodeToString(k[:]) }

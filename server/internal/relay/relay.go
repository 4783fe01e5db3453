// Package relay forwards WireGuard packets between agents that cannot
// reach each other directly. Each agent holds one WebSocket to the server
// (on the HTTPS port, so it passes firewalls that allow only outbound TCP
// 443 and load balancers that forward Upgrade), authenticated by its
// machine credential; frames (pkg/relayframe) name the destination by its
// WireGuard public key, and the server hands them to that machine's
// WebSocket. The packets are WireGuard ciphertext: the relay holds no key
// that opens them.
//
// A machine has at most one session; a newer one replaces it. A session
// ends when the machine leaves the network map (revoked, deleted) or its
// key changes — the watcher checks every session against the map each
// time the map moves — and when the server stops. Each session sends
// through a bounded queue, so one slow receiver never stalls others, and
// is limited to a byte rate.
package relay

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/wirefleet/wirefleet/pkg/relayframe"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Map is what the relay needs of the network map: whether a machine is
// in it and under which key, and a signal each time it changes.
type Map interface {
	Peer(id string) (wire.Peer, bool)
	Applied() <-chan struct{}
}

// Config tunes the relay.
type Config struct {
	// Rate is each machine's sending budget in bytes per second (default
	// 50 MB/s); Burst the bucket size (default 1 MiB). Every frame read
	// costs FrameCost on top of its bytes, so that a flood of tiny frames
	// is held to the budget too.
	Rate  float64
	Burst int
	// Queue is how many frames may wait for a slow receiver before
	// further ones are dropped (default 512).
	Queue int
	// PingEvery is how often the server pings each agent, so that a
	// vanished one is noticed (default 20 s).
	PingEvery time.Duration
	// OnSession, when set, is told (on its own goroutine) when a machine's
	// session opens or its last one ends: a subnet router's session is
	// how the server knows it is there.
	OnSession func(id string, up bool)
}

// Server is the relay. Create it with New and run Watch beside it.
type Server struct {
	m   Map
	log *slog.Logger
	cfg Config
	reg prometheus.Registerer

	mu    sync.RWMutex
	byKey map[relayframe.Key]*session
	byID  map[string]*session
	done  bool
	// waiting holds, per absent destination, the sessions that were told
	// NoPeer for it, so its arrival can be announced (see announce).
	waiting  map[relayframe.Key][]waiter
	nWaiting int
	// mesh, when set, carries frames for sessions on other replicas.
	mesh *mesh

	pool  sync.Pool // frames (relayframe.MaxFrame)
	bpool sync.Pool // batches (relayframe.MaxBatch)

	sessions prometheus.Gauge
	opened   prometheus.Counter
	bytes    prometheus.Counter
	packets  prometheus.Counter
	dropped  *prometheus.CounterVec
}

type session struct {
	id    string
	name  string
	key   relayframe.Key
	key64 string // key as the map spells it
	conn  *websocket.Conn
	out   chan *[]byte
	lim   *rate.Limiter
	once  sync.Once
	batch bool // the agent speaks relayframe.Protocol2: batches both ways
}

// end closes the session with a close frame that tells the agent why.
func (sess *session) end(code websocket.StatusCode, reason string) {
	sess.once.Do(func() { go sess.conn.Close(code, reason) })
}

// waiter is a session that sent to an absent destination at a time.
type waiter struct {
	sess *session
	at   time.Time
}

// Announcements of arrivals: a sender is told for presentWindow after its
// last NoPeer (WireGuard retries a handshake after 5 s; later than that
// the resend is moot). maxWaiting caps the entries, so an agent sending
// to random keys cannot grow the table.
const (
	presentWindow = 10 * time.Second
	maxWaiting    = 4096
)

// FrameCost is what one frame costs a sender's budget beyond its bytes:
// roughly the server's work to read, parse and queue it, in bytes of
// payload it could have moved instead. Counting payload alone let a
// sender of header-only frames push 237,410 frames through a 2,000 B/s
// budget in 7 s and keep most of a core busy.
const FrameCost = 128

// maxPause bounds how long a session over its budget goes unread.
const maxPause = time.Second

// readLimit is the largest message read (and dropped) before a session is
// ended for it; frames above relayframe.MaxFrame are dropped.
const readLimit = 64 << 10

// Reasons a frame is dropped, as the dropped counter labels them.
const (
	DropMalformed = "malformed"  // does not parse, or not a Send frame
	DropNoPeer    = "no_peer"    // destination has no session
	DropRate      = "rate"       // sender over its byte rate
	DropQueue     = "queue_full" // receiver's queue is full
)

// New returns a relay over the network map m, registering its metrics
// with reg (when not nil).
func New(m Map, log *slog.Logger, reg prometheus.Registerer, cfg Config) *Server {
	if cfg.Rate <= 0 {
		cfg.Rate = 50e6
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 1 << 20
	}
	if cfg.Burst < relayframe.MaxFrame+FrameCost {
		cfg.Burst = relayframe.MaxFrame + FrameCost
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 512
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = 20 * time.Second
	}
	s := &Server{m: m, log: log, cfg: cfg, reg: reg, byKey: map[relayframe.Key]*session{}, byID: map[string]*session{},
		waiting:  map[relayframe.Key][]waiter{},
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "wirefleet_relay_sessions", Help: "Agents connected to the relay right now."}),
		opened:   prometheus.NewCounter(prometheus.CounterOpts{Name: "wirefleet_relay_sessions_total", Help: "Relay sessions opened."}),
		bytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "wirefleet_relay_bytes_total", Help: "Packet bytes forwarded by the relay."}),
		packets:  prometheus.NewCounter(prometheus.CounterOpts{Name: "wirefleet_relay_packets_total", Help: "Packets forwarded by the relay."}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wirefleet_relay_dropped_total",
			Help: "Relay frames dropped, by reason (malformed, no_peer, rate, queue_full, mesh)."}, []string{"reason"}),
	}
	s.pool.New = func() any { b := make([]byte, relayframe.MaxFrame); return &b }
	s.bpool.New = func() any { b := make([]byte, relayframe.MaxBatch); return &b }
	for _, r := range []string{DropMalformed, DropNoPeer, DropRate, DropQueue, DropMesh} {
		s.dropped.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(s.sessions, s.opened, s.bytes, s.packets, s.dropped)
	}
	return s
}

// Serve upgrades an agent's request to a relay session for machine m,
// whose credential the caller has checked, and runs it until it ends.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, m wire.Machine) {
	if err := CheckKey(m.PublicKey); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(wire.ErrorResponse{Error: &wire.Error{Code: wire.CodeConflict, Message: "machine has no usable WireGuard key: " + err.Error()}})
		return
	}
	kb, _ := base64.StdEncoding.DecodeString(m.PublicKey)
	// The HTTP server's read and write timeouts are for requests; a relay
	// session lives for hours and watches itself with pings.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled,
		Subprotocols: []string{relayframe.Protocol2}})
	if err != nil {
		s.log.Debug("relay: upgrade failed", "machine", m.ID, "err", err)
		return // Accept wrote the error response
	}
	conn.SetReadLimit(readLimit)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := &session{id: m.ID, name: m.Name, key64: m.PublicKey, conn: conn, out: make(chan *[]byte, s.cfg.Queue),
		lim: rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst), batch: conn.Subprotocol() == relayframe.Protocol2}
	copy(sess.key[:], kb)
	if !s.register(sess) {
		conn.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.log.Debug("relay: session open", "machine", m.ID, "name", m.Name)
	go s.write(ctx, sess)
	go s.ping(ctx, sess)
	err = s.read(ctx, sess)
	s.unregister(sess)
	code, reason := closeFor(err)
	sess.end(code, reason)
	s.log.Debug("relay: session closed", "machine", m.ID, "err", err)
}

// CheckKey says whether a machine's public key can address it on the
// relay (a base64 WireGuard key).
func CheckKey(pub string) error {
	kb, err := base64.StdEncoding.DecodeString(pub)
	if err != nil || len(kb) != relayframe.KeyLen {
		return errors.New("not a base64 32-byte WireGuard key")
	}
	return nil
}

// closeFor is the close a session ends with after read failed with err:
// a protocol violation the WebSocket library reports without closing
// (an unmasked client frame) is 1002, a message over the read limit
// 1009, anything else a normal close.
func closeFor(err error) (websocket.StatusCode, string) {
	var ce websocket.CloseError
	switch {
	case err == nil, errors.As(err, &ce):
		return websocket.StatusNormalClosure, "bye"
	case strings.Contains(err.Error(), "unmasked frame"):
		return websocket.StatusProtocolError, "client frames must be masked (RFC 6455 5.1)"
	case errors.Is(err, websocket.ErrMessageTooBig):
		return websocket.StatusMessageTooBig, "frame too large"
	}
	return websocket.StatusNormalClosure, "bye"
}

func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	if old := s.byID[sess.id]; old != nil {
		old.end(websocket.StatusPolicyViolation, "replaced by a newer session of this machine")
		if s.byKey[old.key] == old {
			delete(s.byKey, old.key)
		}
	}
	s.byID[sess.id] = sess
	s.byKey[sess.key] = sess
	s.sessions.Set(float64(len(s.byID)))
	s.opened.Inc()
	s.announce(sess.key)
	if s.cfg.OnSession != nil {
		go s.cfg.OnSession(sess.id, true)
	}
	if s.mesh != nil {
		s.mesh.opened(sess)
	}
	return true
}

// wait records that sess was told NoPeer for key.
func (s *Server) wait(sess *session, key relayframe.Key, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiting[key]
	for i := range ws {
		if ws[i].sess == sess {
			ws[i].at = now
			return
		}
	}
	if s.nWaiting >= maxWaiting {
		s.pruneWaiting(now)
		if s.nWaiting >= maxWaiting {
			return
		}
	}
	s.waiting[key] = append(ws, waiter{sess, now})
	s.nWaiting++
}

func (s *Server) pruneWaiting(now time.Time) {
	for k, ws := range s.waiting {
		kept := ws[:0]
		for _, w := range ws {
			if now.Sub(w.at) < presentWindow && s.byID[w.sess.id] == w.sess {
				kept = append(kept, w)
			}
		}
		s.nWaiting -= len(ws) - len(kept)
		if len(kept) == 0 {
			delete(s.waiting, k)
		} else {
			s.waiting[k] = kept
		}
	}
}

// announce tells the live sessions that recently sent to key, which has
// just connected, that it is present. Called with s.mu held.
func (s *Server) announce(key relayframe.Key) {
	ws := s.waiting[key]
	if ws == nil {
		return
	}
	delete(s.waiting, key)
	s.nWaiting -= len(ws)
	now := time.Now()
	for _, w := range ws {
		if now.Sub(w.at) >= presentWindow || s.byID[w.sess.id] != w.sess {
			continue
		}
		bp := s.pool.Get().(*[]byte)
		*bp = relayframe.Append((*bp)[:0], relayframe.TypePresent, key, nil)
		s.enqueue(w.sess, bp)
	}
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[sess.id] == sess {
		delete(s.byID, sess.id)
		if s.cfg.OnSession != nil {
			go s.cfg.OnSession(sess.id, false)
		}
	}
	if s.byKey[sess.key] == sess {
		delete(s.byKey, sess.key)
		if s.mesh != nil {
			s.mesh.closed(sess)
		}
	}
	s.sessions.Set(float64(len(s.byID)))
}

// read forwards the agent's frames until the connection ends.
func (s *Server) read(ctx context.Context, sess *session) error {
	for {
		typ, rd, err := sess.conn.Reader(ctx)
		if err != nil {
			return err
		}
		pool := &s.pool
		if sess.batch {
			pool = &s.bpool // a message may be a batch
		}
		bp := pool.Get().(*[]byte)
		b := (*bp)[:cap(*bp)]
		n, err := io.ReadFull(rd, b)
		switch {
		case err == nil: // the buffer is full: is there more?
			extra, err := io.Copy(io.Discard, rd)
			if err != nil {
				pool.Put(bp)
				return err // over the read limit: the session ends
			}
			if extra > 0 {
				pool.Put(bp)
				s.dropped.WithLabelValues(DropMalformed).Inc()
				continue
			}
		case err == io.EOF || err == io.ErrUnexpectedEOF:
		default:
			pool.Put(bp)
			return err
		}
		if typ != websocket.MessageBinary {
			pool.Put(bp)
			s.dropped.WithLabelValues(DropMalformed).Inc()
			continue
		}
		if sess.batch && relayframe.IsBatch(b[:n]) {
			// Each frame of a batch is charged and forwarded as a lone
			// one would be, from a frame buffer of its own.
			err := relayframe.Split(b[:n], func(fr []byte) {
				if !s.charge(ctx, sess, len(fr)) {
					return
				}
				fp := s.pool.Get().(*[]byte)
				s.forward(sess, fp, append((*fp)[:0], fr...))
			})
			pool.Put(bp)
			if err != nil {
				s.dropped.WithLabelValues(DropMalformed).Inc()
			}
			continue
		}
		if !s.charge(ctx, sess, n) {
			pool.Put(bp)
			continue
		}
		if sess.batch {
			// A lone frame read into a batch buffer goes on in a frame
			// buffer, which is what the queues hold.
			fp := s.pool.Get().(*[]byte)
			fr := append((*fp)[:0], b[:n]...)
			pool.Put(bp)
			bp, b = fp, fr
		}
		s.forward(sess, bp, b[:n])
	}
}

// charge takes a frame of n bytes from the sender's budget. Over it, the
// frame is dropped (as a UDP path would drop it) and the session is not
// read again until the budget holds a frame's worth (at most maxPause):
// a flood then waits in the sender's TCP window instead of costing this
// server a core to read and drop.
func (s *Server) charge(ctx context.Context, sess *session, n int) bool {
	cost := FrameCost + n
	now := time.Now()
	if sess.lim.AllowN(now, cost) {
		return true
	}
	s.dropped.WithLabelValues(DropRate).Inc()
	short := float64(cost) - sess.lim.TokensAt(now)
	pause := min(time.Duration(short/float64(sess.lim.Limit())*float64(time.Second)), maxPause)
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return false
}

// forward relays one frame from sess, taking ownership of bp.
func (s *Server) forward(sess *session, bp *[]byte, b []byte) {
	f, err := relayframe.Parse(b)
	if err != nil || f.Type != relayframe.TypeSend {
		s.pool.Put(bp)
		s.dropped.WithLabelValues(DropMalformed).Inc()
		return
	}
	s.mu.RLock()
	live, dst, mesh := s.byID[sess.id] == sess, s.byKey[f.Key], s.mesh
	s.mu.RUnlock()
	if !live {
		s.pool.Put(bp) // the session is closing (revoked, replaced): its packets go nowhere
		s.dropped.WithLabelValues(DropNoPeer).Inc()
		return
	}
	if dst == nil {
		*bp = b
		if mesh != nil && mesh.send(sess, f.Key, bp) {
			return // on its way to the replica that holds the destination
		}
		s.noPeer(sess, f.Key, bp)
		return
	}
	// Rewrite the header in place: the receiver learns the sender.
	b[0] = relayframe.TypeRecv
	copy(b[1:relayframe.HeaderLen], sess.key[:])
	*bp = b
	if s.enqueue(dst, bp) {
		s.bytes.Add(float64(len(f.Payload)))
		s.packets.Inc()
	}
}

// noPeer tells sess that key has no session, reusing bp: it then tries a
// direct path. It is recorded as waiting first: once it has read NoPeer,
// a connect of the destination must find it and announce Present.
func (s *Server) noPeer(sess *session, key relayframe.Key, bp *[]byte) {
	s.wait(sess, key, time.Now())
	*bp = relayframe.Append((*bp)[:0], relayframe.TypeNoPeer, key, nil)
	s.enqueue(sess, bp)
	s.dropped.WithLabelValues(DropNoPeer).Inc()
}

// drop returns a frame's buffer, counting why it went nowhere.
func (s *Server) drop(bp *[]byte, reason string) {
	s.pool.Put(bp)
	s.dropped.WithLabelValues(reason).Inc()
}

func (s *Server) enqueue(dst *session, bp *[]byte) bool {
	select {
	case dst.out <- bp:
		return true
	default:
		s.pool.Put(bp)
		s.dropped.WithLabelValues(DropQueue).Inc()
		return false
	}
}

// write sends queued frames to the agent. To an agent that speaks
// batches, the frames queued when it writes go in one message: a lone
// packet leaves at once, a busy stream in messages of up to MaxBatch.
func (s *Server) write(ctx context.Context, sess *session) {
	var next *[]byte // a frame taken from the queue that did not fit the last batch
	for {
		bp := next
		next = nil
		if bp == nil {
			select {
			case <-ctx.Done():
				return
			case bp = <-sess.out:
			}
		}
		msg, batched := *bp, (*[]byte)(nil)
		if sess.batch {
		drain:
			for {
				select {
				case more := <-sess.out:
					if batched == nil {
						batched = s.bpool.Get().(*[]byte)
						*batched = relayframe.AppendFrame(relayframe.NewBatch((*batched)[:0]), *bp)
						s.pool.Put(bp)
						bp = nil
					}
					if len(*batched)+2+len(*more) > relayframe.MaxBatch {
						next = more
						break drain
					}
					*batched = relayframe.AppendFrame(*batched, *more)
					s.pool.Put(more)
				default:
					break drain
				}
			}
			if batched != nil {
				msg = *batched
			}
		}
		err := sess.conn.Write(ctx, websocket.MessageBinary, msg)
		if bp != nil {
			s.pool.Put(bp)
		}
		if batched != nil {
			s.bpool.Put(batched)
		}
		if err != nil {
			if next != nil {
				s.pool.Put(next)
			}
			sess.conn.CloseNow()
			return
		}
	}
}

// ping ends a session whose agent stopped answering.
func (s *Server) ping(ctx context.Context, sess *session) {
	t := time.NewTicker(s.cfg.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PingEvery/2)
		err := sess.conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			sess.conn.CloseNow() // no answer to ping
			return
		}
	}
}

// Watch ends the session of every machine that leaves the network map or
// changes its key, each time the map moves, until ctx ends; then it closes
// every session.
func (s *Server) Watch(ctx context.Context) {
	for {
		changed := s.m.Applied()
		s.check()
		select {
		case <-ctx.Done():
			s.Close()
			return
		case <-changed:
		}
	}
}

func (s *Server) check() {
	s.mu.RLock()
	var stale []*session
	for _, sess := range s.byID {
		p, ok := s.m.Peer(sess.id)
		if !ok || p.PublicKey != sess.key64 {
			stale = append(stale, sess)
		}
	}
	s.mu.RUnlock()
	for _, sess := range stale {
		s.unregister(sess)
		sess.end(websocket.StatusPolicyViolation, "machine revoked or re-keyed")
		s.log.Info("relay: session ended: machine left the map or changed its key", "machine", sess.id, "name", sess.name)
	}
}

// Close ends every session and refuses new ones.
func (s *Server) Close() {
	s.mu.Lock()
	s.done = true
	all := make([]*session, 0, len(s.byID))
	for _, sess := range s.byID {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.end(websocket.StatusGoingAway, "server shutting down")
	}
}

// Connected reports whether machine id has a relay session.
func (s *Server) Connected(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id] != nil
}

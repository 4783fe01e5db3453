// Package sshd is the agent's SSH server: logins over the overlay, by the
// connecting machine's identity and the policy's "ssh" rules, with no SSH
// keys or passwords.
//
// It listens on port 22 of the machine's overlay addresses, bound to the
// tunnel interface, only while the policy has ssh rules naming this
// machine (Self.SSH). A connection's source address is a peer's overlay
// address — WireGuard admits a packet from a peer only with the
// addresses it holds — so the address names the machine, and through the
// server its owner. "none" authentication is the only way in for an
// "accept" rule; a "check" rule takes keyboard-interactive, whose
// prompt-less challenge shows the link where the owner confirms and waits
// for the server to say they did. No password or public-key path exists.
//
// Every session is reported to the server (audit) before it starts, and
// recorded when the policy says so; a session that cannot be reported or
// recorded does not start. When the map changes — the source revoked,
// the rule gone — the sessions it no longer admits are closed at once.
package sshd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Control is what the server is asked and told (the agent's client).
type Control interface {
	SSHCheck(ctx context.Context, req wire.SSHCheckRequest) (wire.SSHCheckAnswer, error)
	SSHSessionEvent(ctx context.Context, ev wire.SSHSessionEvent) error
	SSHRecord(ctx context.Context, id string, offset int64, data []byte) error
}

// View is the agent's network map, as the SSH server reads it.
type View interface {
	Self() *wire.Self
	Peer(id string) (wire.Peer, bool)
	PeerByAddr(a netip.Addr) (wire.Peer, bool)
}

// Server is the agent's SSH server. Set the fields, then Run; call
// Changed after each network map.
type Server struct {
	Control Control
	View    View
	HostKey gossh.Signer
	// Exe is the agent binary: sftp runs as "Exe ssh-sftp-server" under
	// the user's identity.
	Exe string
	// Iface names the tunnel interface the listener is bound to (""
	// none: tests).
	Iface func() string
	Log   *slog.Logger
	// Port is 22 unless a test says otherwise; CheckWait how long a
	// check waits for the owner's confirmation (default 2 minutes).
	Port      int
	CheckWait time.Duration
	Now       func() time.Time
	// Accounts looks local users up (tests replace it).
	Accounts func(name string) (*Account, error)

	mu       sync.Mutex
	srv      *gliderssh.Server
	lns      map[netip.Addr]net.Listener
	lastErr  string
	conns    map[*conn]struct{}
	wake     chan struct{}
	sessions int // open sessions (status)
}

// conn is one client connection: its grant, once authenticated.
type conn struct {
	net.Conn
	mu      sync.Mutex
	peer    wire.Peer
	console string // the admin at the console, for a console connection
	login   string
	rule    wire.SSHRule
	authed  bool
	asked   bool   // a check was asked on this connection (one per connection)
	reason  string // why the server closed it
}

func (c *conn) grant() (wire.Peer, wire.SSHRule, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer, c.rule, c.login, c.authed
}

func (c *conn) closeFor(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	_ = c.Conn.Close()
}

func (c *conn) closeReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

type ctxKey struct{}

// Status is what `wirefleet-agent status` shows of the server.
type Status struct {
	On       bool     `json:"on"`
	Listen   []string `json:"listen,omitempty"`
	Sessions int      `json:"sessions"`
	Error    string   `json:"error,omitempty"`
}

// Status reports whether the server listens, where, and why not.
func (s *Server) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Sessions: s.sessions, Error: s.lastErr}
	for a := range s.lns {
		st.Listen = append(st.Listen, netip.AddrPortFrom(a, uint16(s.port())).String())
	}
	slices.Sort(st.Listen)
	st.On = len(st.Listen) > 0
	return st
}

func (s *Server) port() int {
	if s.Port != 0 {
		return s.Port
	}
	return 22
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Changed tells the server the map changed: it re-checks every open
// session and what it listens on.
func (s *Server) Changed() {
	s.mu.Lock()
	w := s.wake
	s.mu.Unlock()
	if w != nil {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run serves until ctx ends, following the map.
func (s *Server) Run(ctx context.Context) {
	s.mu.Lock()
	s.wake = make(chan struct{}, 1)
	s.conns = map[*conn]struct{}{}
	s.lns = map[netip.Addr]net.Listener{}
	s.srv = s.newServer()
	s.mu.Unlock()
	defer s.shutdown()
	t := time.NewTicker(3 * time.Second) // retries a listener the address was not up for
	defer t.Stop()
	for {
		s.recheck()
		s.reconcile()
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

func (s *Server) shutdown() {
	s.mu.Lock()
	srv := s.srv
	for c := range s.conns {
		c.closeFor("the agent stopped")
	}
	for a, ln := range s.lns {
		_ = ln.Close()
		delete(s.lns, a)
	}
	s.mu.Unlock()
	_ = srv.Close()
}

// policy returns the SSH policy in force (nil: off).
func (s *Server) policy() *wire.SSHPolicy {
	if self := s.View.Self(); self != nil {
		return self.SSH
	}
	return nil
}

// recheck closes the sessions the map no longer admits: the source gone
// (revoked, removed) or changed so that no rule admits it as its user.
func (s *Server) recheck() {
	pol := s.policy()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		peer, _, login, ok := c.grant()
		if !ok {
			continue
		}
		if c.console != "" {
			if _, ok := policy.ConsoleRule(pol, login); !ok {
				s.Log.Info("ssh: closing a console session the policy no longer allows", "admin", c.console, "user", login)
				c.closeFor("the policy no longer allows it")
			}
			continue
		}
		now, there := s.View.Peer(peer.ID)
		if !there {
			s.Log.Info("ssh: closing a session: its source machine left the map (revoked or removed)", "src", peer.Name, "user", login)
			c.closeFor("the source machine was revoked or removed")
			continue
		}
		if _, ok := Match(pol, now, login); !ok {
			s.Log.Info("ssh: closing a session the policy no longer allows", "src", peer.Name, "user", login)
			c.closeFor("the policy no longer allows it")
		}
	}
}

// reconcile listens on the overlay addresses while the policy has rules
// for this machine, and not otherwise.
func (s *Server) reconcile() {
	want := map[netip.Addr]bool{}
	if !sessionsSupported {
		s.mu.Lock()
		if self := s.View.Self(); self != nil && self.SSH != nil {
			s.lastErr = ErrNotSupported.Error() + " (the policy's ssh rules name this machine)"
		} else {
			s.lastErr = ""
		}
		s.mu.Unlock()
		return
	}
	if self := s.View.Self(); self != nil && self.SSH != nil {
		for _, as := range []string{self.IPv4, self.IPv6} {
			if a, err := netip.ParseAddr(as); err == nil {
				want[a] = true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, ln := range s.lns {
		if !want[a] {
			_ = ln.Close()
			delete(s.lns, a)
			s.Log.Info("ssh: stopped listening (no ssh rule names this machine)", "addr", a)
		}
	}
	var errs []error
	for a := range want {
		if s.lns[a] != nil {
			continue
		}
		ln, err := s.listen(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.lns[a] = ln
		s.Log.Info("ssh: listening for logins the policy allows", "addr", ln.Addr().String())
		go func() { _ = s.srv.Serve(ln) }()
	}
	msg := ""
	if err := errors.Join(errs...); err != nil {
		msg = err.Error()
		if msg != s.lastErr {
			s.Log.Warn("ssh: cannot listen yet; retrying", "err", err)
		}
	}
	s.lastErr = msg
}

func (s *Server) listen(a netip.Addr) (net.Listener, error) {
	lc := net.ListenConfig{}
	iface := ""
	if s.Iface != nil {
		iface = s.Iface()
	}
	if iface != "" {
		lc.Control = bindToDevice(iface)
	}
	addr := netip.AddrPortFrom(a, uint16(s.port())).String()
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		if isAddrInUse(err) {
			return nil, fmt.Errorf("port %d of %s is taken by another server (an sshd listening on every address?): give it a ListenAddress other than the overlay's: %w", s.port(), a, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// newServer builds the SSH server: no password, no public key; "none"
// for accept rules, keyboard-interactive for check rules.
func (s *Server) newServer() *gliderssh.Server {
	srv := &gliderssh.Server{
		HostSigners: []gliderssh.Signer{s.HostKey},
		Version:     "Wirefleet",
		Handler:     s.handle,
		ConnCallback: func(ctx gliderssh.Context, nc net.Conn) net.Conn {
			c := &conn{Conn: nc}
			if cc, ok := nc.(*consoleConn); ok {
				c.console = cc.account
			}
			ctx.SetValue(ctxKey{}, c)
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			go func() {
				<-ctx.Done()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			return c
		},
		KeyboardInteractiveHandler: func(ctx gliderssh.Context, ch gossh.KeyboardInteractiveChallenge) bool {
			return s.checkLogin(ctx, ch)
		},
		LocalPortForwardingCallback: func(ctx gliderssh.Context, host string, port uint32) bool {
			c, _ := ctx.Value(ctxKey{}).(*conn)
			if c == nil {
				return false
			}
			_, r, _, ok := c.grant()
			return ok && r.Forwarding
		},
		ChannelHandlers: map[string]gliderssh.ChannelHandler{
			"session":      gliderssh.DefaultSessionHandler,
			"direct-tcpip": gliderssh.DirectTCPIPHandler,
		},
		SubsystemHandlers: map[string]gliderssh.SubsystemHandler{
			"sftp": s.handleSFTP,
		},
	}
	srv.ServerConfigCallback = func(ctx gliderssh.Context) *gossh.ServerConfig {
		cfg := &gossh.ServerConfig{NoClientAuth: true, MaxAuthTries: 4}
		cfg.Ciphers = ciphers
		cfg.NoClientAuthCallback = func(cm gossh.ConnMetadata) (*gossh.Permissions, error) {
			c, _ := ctx.Value(ctxKey{}).(*conn)
			if c.console != "" {
				// The server asked for this connection for an admin at
				// the console; the policy must still admit the console.
				r, ok := policy.ConsoleRule(s.policy(), cm.User())
				if !ok {
					s.Log.Info("ssh: console login refused", "admin", c.console, "user", cm.User())
					return nil, fmt.Errorf("no ssh rule lets the console log in as %q", cm.User())
				}
				c.mu.Lock()
				c.rule, c.login, c.authed = r, cm.User(), true
				c.mu.Unlock()
				return &gossh.Permissions{}, nil
			}
			peer, r, err := s.authorize(cm)
			if err != nil {
				s.deny(cm, peer, err)
				return nil, err
			}
			if r.Action == wire.SSHActionCheck && !s.confirmed(peer, r, cm.User()) {
				return nil, errors.New("this login needs its owner's confirmation") // keyboard-interactive follows
			}
			c.mu.Lock()
			c.peer, c.rule, c.login, c.authed = peer, r, cm.User(), true
			c.mu.Unlock()
			return &gossh.Permissions{}, nil
		}
		return cfg
	}
	return srv
}

// consoleConn is a connection the server opened for an admin at the
// console (through the agent's WebSocket, not the overlay).
type consoleConn struct {
	net.Conn
	account string
}

// ServeConsole serves one SSH connection the server opened for account,
// an admin at the console (the agent dialed it: console requests come
// through the server, never inbound). It returns when the connection
// ends.
func (s *Server) ServeConsole(nc net.Conn, account string) {
	s.mu.Lock()
	srv := s.srv
	on := len(s.lns) > 0 || (s.View.Self() != nil && s.View.Self().SSH != nil)
	s.mu.Unlock()
	if srv == nil || !on {
		nc.Close()
		return
	}
	srv.HandleConn(&consoleConn{Conn: nc, account: account})
}

// ciphers are AES-GCM alone: a client takes the first of its own list
// the server offers, and OpenSSH lists chacha20-poly1305 first, which Go
// runs at about two thirds of AES-GCM's speed here (scp 86 against 129
// MiB/s; BENCHMARKS "SSH over the overlay"). Every OpenSSH since 6.2,
// PuTTY since 0.76 and Go have AES-GCM.
var ciphers = []string{"aes128-gcm@openssh.com", "aes256-gcm@openssh.com"}

var errNoPeer = errors.New("the source address is no machine of the fleet")

// authorize finds the rule that admits the connection's source and user.
func (s *Server) authorize(cm gossh.ConnMetadata) (wire.Peer, wire.SSHRule, error) {
	ap, err := netip.ParseAddrPort(cm.RemoteAddr().String())
	if err != nil {
		return wire.Peer{}, wire.SSHRule{}, errNoPeer
	}
	peer, ok := s.View.PeerByAddr(ap.Addr().Unmap())
	if !ok {
		return wire.Peer{}, wire.SSHRule{}, errNoPeer
	}
	r, ok := Match(s.policy(), peer, cm.User())
	if !ok {
		return peer, wire.SSHRule{}, fmt.Errorf("no ssh rule lets %s log in as %q", peer.Name, cm.User())
	}
	return peer, r, nil
}

// deny reports a refused login (best effort, in the background): who
// tried what is audit too.
func (s *Server) deny(cm gossh.ConnMetadata, peer wire.Peer, why error) {
	s.Log.Info("ssh: login refused", "from", cm.RemoteAddr().String(), "user", cm.User(), "why", why)
	if peer.ID == "" {
		return // not a machine of the fleet: nothing to name
	}
	ev := wire.SSHSessionEvent{ID: newID(), Event: wire.SSHSessionDeny, Src: peer.ID, SrcAddr: hostOf(cm.RemoteAddr()),
		User: cm.User(), Rule: -1, Time: s.now().UTC(), Reason: why.Error()}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Control.SSHSessionEvent(ctx, ev)
	}()
}

// checkLogin runs a check rule's confirmation: admitted at once when the
// owner confirmed within the rule's period, else the link is shown (a
// challenge without questions) and the server asked until they confirm
// or CheckWait passes.
func (s *Server) checkLogin(ctx gliderssh.Context, ch gossh.KeyboardInteractiveChallenge) bool {
	c, _ := ctx.Value(ctxKey{}).(*conn)
	if c == nil {
		return false
	}
	if _, _, _, ok := c.grant(); ok {
		return true
	}
	c.mu.Lock()
	asked := c.asked
	c.asked = true
	c.mu.Unlock()
	if asked {
		return false // the client retries keyboard-interactive: one wait is enough
	}
	peer, r, err := s.authorize(ctxMeta{ctx})
	if err != nil || r.Action != wire.SSHActionCheck {
		return false // refused (and reported) by "none" already
	}
	wait := s.CheckWait
	if wait == 0 {
		wait = 2 * time.Minute
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req := wire.SSHCheckRequest{Src: peer.ID, User: ctx.User(), Period: r.CheckPeriod}
	ans, err := s.Control.SSHCheck(cctx, req)
	if err != nil {
		s.Log.Warn("ssh: the server cannot be asked about a check; refusing", "err", err)
		_, _ = ch("", "Wirefleet: this login needs a confirmation, and the server cannot be asked now; try again later.", nil, nil)
		return false
	}
	if !ans.OK && ans.Owner == "" {
		_, _ = ch("", fmt.Sprintf("Wirefleet: this login needs the confirmation of %s's owner, and it has none.", peer.Name), nil, nil)
		s.deny(ctxMeta{ctx}, peer, errors.New("check: the source machine has no owner"))
		return false
	}
	if !ans.OK {
		if _, err := ch("", fmt.Sprintf("Wirefleet: %s, confirm this login as %s on %s at\n\n  %s\n\nWaiting up to %s…", ans.Owner, ctx.User(), s.selfName(), ans.URL, wait.Round(time.Second)), nil, nil); err != nil {
			return false
		}
		req.Check = ans.Check
		for !ans.OK {
			select {
			case <-cctx.Done():
				s.deny(ctxMeta{ctx}, peer, errors.New("check: not confirmed in time"))
				return false
			case <-time.After(time.Second):
			}
			if ans, err = s.Control.SSHCheck(cctx, req); err != nil && cctx.Err() == nil {
				s.Log.Warn("ssh: asking about a check", "err", err)
			}
		}
	}
	c.mu.Lock()
	c.peer, c.rule, c.login, c.authed = peer, r, ctx.User(), true
	c.mu.Unlock()
	return true
}

// confirmed asks the server whether the owner confirmed within the
// rule's period, without making a check: a confirmed owner's logins go
// on without a question (and BatchMode scripts work).
func (s *Server) confirmed(peer wire.Peer, r wire.SSHRule, login string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ans, err := s.Control.SSHCheck(ctx, wire.SSHCheckRequest{Src: peer.ID, User: login, Period: r.CheckPeriod, Probe: true})
	return err == nil && ans.OK
}

func (s *Server) selfName() string {
	if self := s.View.Self(); self != nil {
		return self.Name
	}
	return "this machine"
}

// ctxMeta is a gliderlabs context as connection metadata.
type ctxMeta struct{ gliderssh.Context }

func (m ctxMeta) User() string          { return m.Context.User() }
func (m ctxMeta) SessionID() []byte     { return []byte(m.Context.SessionID()) }
func (m ctxMeta) ClientVersion() []byte { return []byte(m.Context.ClientVersion()) }
func (m ctxMeta) ServerVersion() []byte { return []byte(m.Context.ServerVersion()) }
func (m ctxMeta) RemoteAddr() net.Addr  { return m.Context.RemoteAddr() }
func (m ctxMeta) LocalAddr() net.Addr   { return m.Context.LocalAddr() }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func hostOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	return a.String()
}

func portOf(a net.Addr) string {
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return strconv.Itoa(int(ap.Port()))
	}
	return "0"
}

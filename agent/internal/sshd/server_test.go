package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// fakeControl is the server's side, in memory: checks confirmed or not,
// session events and recordings kept.
type fakeControl struct {
	mu        sync.Mutex
	confirmed bool
	checks    []wire.SSHCheckRequest
	events    []wire.SSHSessionEvent
	casts     map[string]*bytes.Buffer
	failRec   bool
	failEvent bool
}

func (c *fakeControl) SSHCheck(_ context.Context, req wire.SSHCheckRequest) (wire.SSHCheckAnswer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks = append(c.checks, req)
	if c.confirmed {
		return wire.SSHCheckAnswer{OK: true, Owner: "alice"}, nil
	}
	return wire.SSHCheckAnswer{Owner: "alice", Check: "sc_1", URL: "https://wf.example/ssh/check/sc_1"}, nil
}

func (c *fakeControl) SSHSessionEvent(_ context.Context, ev wire.SSHSessionEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failEvent {
		return errors.New("server down")
	}
	c.events = append(c.events, ev)
	return nil
}

func (c *fakeControl) SSHRecord(_ context.Context, id string, off int64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failRec {
		return errors.New("server down")
	}
	b := c.casts[id]
	if b == nil {
		b = &bytes.Buffer{}
		c.casts[id] = b
	}
	if off != int64(b.Len()) {
		return fmt.Errorf("offset %d, have %d", off, b.Len())
	}
	b.Write(data)
	return nil
}

func (c *fakeControl) eventsOf(kind string) []wire.SSHSessionEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []wire.SSHSessionEvent
	for _, e := range c.events {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

// fakeView is a map: this machine on 127.0.0.1, one peer on 127.0.0.2.
type fakeView struct {
	mu    sync.Mutex
	self  *wire.Self
	peers map[string]wire.Peer
}

func (v *fakeView) Self() *wire.Self {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.self
}

func (v *fakeView) Peer(id string) (wire.Peer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.peers[id]
	return p, ok
}

func (v *fakeView) PeerByAddr(a netip.Addr) (wire.Peer, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, p := range v.peers {
		if p.IPv4 == a.String() {
			return p, true
		}
	}
	return wire.Peer{}, false
}

// testServer runs a Server on 127.0.0.1:port for the peer 127.0.0.2,
// logging users in as the user running the test.
func testServer(t *testing.T, pol *wire.SSHPolicy) (*Server, *fakeControl, *fakeView, string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("sessions run on Linux here (the 127.0.0.2 source address)")
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(me.Uid)
	gid, _ := strconv.Atoi(me.Gid)
	ctl := &fakeControl{casts: map[string]*bytes.Buffer{}}
	view := &fakeView{self: &wire.Self{ID: "m_self", Name: "srv-1", IPv4: "127.0.0.1", SSH: pol},
		peers: map[string]wire.Peer{"m_ops": {ID: "m_ops", Name: "ops-1", IPv4: "127.0.0.2", Tags: []string{"ops"}}}}
	s := &Server{Control: ctl, View: view, HostKey: signer, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Port: port, CheckWait: 2 * time.Second,
		Accounts: func(name string) (*Account, error) {
			if name != "deploy" && name != "root" {
				return nil, fmt.Errorf("there is no user %q on this machine", name)
			}
			return &Account{Name: me.Username, UID: uint32(uid), GID: uint32(gid), Home: os.TempDir(), Shell: "/bin/sh"}, nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for !s.Status().On {
		if time.Now().After(deadline) {
			t.Fatalf("not listening: %+v", s.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, ctl, view, addr
}

// dial connects from 127.0.0.2 (the peer) with the given methods.
func dial(addr, login string, methods ...gossh.AuthMethod) (*gossh.Client, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := gossh.NewClientConn(nc, addr, &gossh.ClientConfig{User: login, Auth: methods, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return gossh.NewClient(c, chans, reqs), nil
}

var acceptDeploy = &wire.SSHPolicy{Policy: 1, Rules: []wire.SSHRule{
	{Action: wire.SSHActionAccept, Src: []string{"tag:ops"}, Users: []string{"deploy"}},
	{Action: wire.SSHActionCheck, Src: []string{"tag:ops"}, Users: []string{"root"}, CheckPeriod: 3600, Rule: 1},
}}

func TestLoginByIdentityAlone(t *testing.T) {
	_, ctl, _, addr := testServer(t, acceptDeploy)
	c, err := dial(addr, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	out, err := sess.CombinedOutput("echo hello; exit 0")
	if err != nil || string(out) != "hello\n" {
		t.Fatalf("%v %q", err, out)
	}
	sess, _ = c.NewSession()
	if err := sess.Run("exit 3"); err == nil || !strings.Contains(err.Error(), "exited with status 3") {
		t.Errorf("exit status: %v", err)
	}
	if starts, ends := ctl.eventsOf(wire.SSHSessionStart), ctl.eventsOf(wire.SSHSessionEnd); len(starts) != 2 || len(ends) != 2 || ends[1].ExitStatus != 3 || starts[0].Src != "m_ops" || starts[0].Kind != "exec" {
		t.Errorf("events: %+v", ctl.events)
	}
}

// No password or public-key path: whatever the client offers, a login no
// rule admits is refused.
func TestNoPasswordOrKeyPath(t *testing.T) {
	_, _, _, addr := testServer(t, acceptDeploy)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := gossh.NewSignerFromKey(priv)
	for _, m := range []gossh.AuthMethod{gossh.Password("hunter2"), gossh.PublicKeys(key)} {
		_, err := dial(addr, "alice", m)
		if err == nil {
			t.Fatalf("%T admitted alice", m)
		}
		if !strings.Contains(err.Error(), "unable to authenticate") {
			t.Errorf("%v", err)
		}
	}
	// Which methods the server names is held by the namespace test (ssh -v).
}

func TestRefusedSources(t *testing.T) {
	_, ctl, view, addr := testServer(t, acceptDeploy)
	// From an address that is no peer (this machine itself).
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := gossh.NewClientConn(nc, addr, &gossh.ClientConfig{User: "deploy", HostKeyCallback: gossh.InsecureIgnoreHostKey()}); err == nil {
		t.Error("a non-peer got in")
	}
	// A peer without the tag.
	view.mu.Lock()
	view.peers["m_ops"] = wire.Peer{ID: "m_ops", Name: "ops-1", IPv4: "127.0.0.2"}
	view.mu.Unlock()
	if _, err := dial(addr, "deploy"); err == nil {
		t.Error("an untagged peer got in")
	}
	time.Sleep(100 * time.Millisecond)
	if len(ctl.eventsOf(wire.SSHSessionDeny)) == 0 {
		t.Error("the refusal was not reported")
	}
}

func TestCheckRule(t *testing.T) {
	_, ctl, _, addr := testServer(t, acceptDeploy)
	var shown string
	ki := gossh.KeyboardInteractive(func(name, instr string, q []string, e []bool) ([]string, error) {
		shown = instr
		return nil, nil
	})
	if _, err := dial(addr, "root", ki); err == nil {
		t.Fatal("unconfirmed check admitted")
	}
	if !strings.Contains(shown, "https://wf.example/ssh/check/sc_1") || !strings.Contains(shown, "alice") {
		t.Errorf("shown: %q", shown)
	}
	// Without keyboard-interactive (BatchMode) it is refused too.
	if _, err := dial(addr, "root"); err == nil {
		t.Fatal("unconfirmed check admitted by none")
	}
	ctl.mu.Lock()
	ctl.confirmed = true
	ctl.mu.Unlock()
	c, err := dial(addr, "root")
	if err != nil {
		t.Fatalf("confirmed: %v", err)
	}
	c.Close()
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if r := ctl.checks[len(ctl.checks)-1]; r.Src != "m_ops" || r.User != "root" || r.Period != 3600 || !r.Probe {
		t.Errorf("asked: %+v", r)
	}
}

// A source that leaves the map (revoked) has its sessions ended at once.
func TestRevocationEndsSessions(t *testing.T) {
	s, ctl, view, addr := testServer(t, acceptDeploy)
	c, err := dial(addr, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	stdout, _ := sess.StdoutPipe()
	if err := sess.Start("echo up; exec sleep 30"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	io.ReadFull(stdout, buf)
	view.mu.Lock()
	delete(view.peers, "m_ops")
	view.mu.Unlock()
	t0 := time.Now()
	s.Changed()
	werr := make(chan error, 1)
	go func() { werr <- sess.Wait() }()
	select {
	case <-werr:
	case <-time.After(5 * time.Second):
		t.Fatal("the session outlived the revocation")
	}
	t.Logf("ended %v after the map changed", time.Since(t0))
	deadline := time.Now().Add(5 * time.Second)
	for len(ctl.eventsOf(wire.SSHSessionEnd)) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if ends := ctl.eventsOf(wire.SSHSessionEnd); len(ends) != 1 || !strings.Contains(ends[0].Reason, "revoked") || ends[0].ExitStatus != -1 {
		t.Errorf("end: %+v", ends)
	}
}

func TestRecordedSessions(t *testing.T) {
	pol := *acceptDeploy
	pol.Record = true
	_, ctl, _, addr := testServer(t, &pol)
	c, err := dial(addr, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	out, err := sess.Output("printf 'one\\ntwo \\342\\202\\254\\n'")
	if err != nil {
		t.Fatal(err)
	}
	starts := ctl.eventsOf(wire.SSHSessionStart)
	if len(starts) != 1 || !starts[0].Recorded {
		t.Fatalf("start: %+v", starts)
	}
	ctl.mu.Lock()
	cast := ctl.casts[starts[0].ID].String()
	ctl.mu.Unlock()
	if got := replay(t, cast); got != string(out) {
		t.Errorf("replay %q, client saw %q", got, out)
	}
	// sftp cannot be recorded: refused.
	sess, _ = c.NewSession()
	if err := sess.RequestSubsystem("sftp"); err == nil {
		if err := sess.Wait(); err == nil {
			t.Error("sftp ran unrecorded")
		}
	}
	// The server down: the session is refused, not run unrecorded.
	ctl.mu.Lock()
	ctl.failRec = true
	ctl.mu.Unlock()
	sess, _ = c.NewSession()
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	if err := sess.Run("touch /tmp/should-not-run-" + starts[0].ID); err == nil {
		t.Error("ran without a recording")
	}
	if _, err := os.Stat("/tmp/should-not-run-" + starts[0].ID); err == nil {
		os.Remove("/tmp/should-not-run-" + starts[0].ID)
		t.Error("the command ran")
	}
	if !strings.Contains(stderr.String(), "must be recorded") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// The audit cannot be written: the session does not start.
func TestUnreportedSessionsDoNotStart(t *testing.T) {
	_, ctl, _, addr := testServer(t, acceptDeploy)
	ctl.failEvent = true
	c, err := dial(addr, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	out, err := sess.CombinedOutput("echo ran")
	if err == nil || strings.Contains(string(out), "ran\n") || !strings.Contains(string(out), "audited") {
		t.Errorf("%v %q", err, out)
	}
}

func replay(t *testing.T, cast string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(cast), "\n")
	var b strings.Builder
	for _, l := range lines[1:] {
		var ev []any
		if err := jsonUnmarshal(l, &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event %q: %v", l, err)
		}
		if ev[1] == "o" {
			b.WriteString(ev[2].(string))
		}
	}
	return b.String()
}

package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/wirefleet/wirefleet/agent/internal/keystore"
	"github.com/wirefleet/wirefleet/agent/internal/sshd"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// runSSH runs the SSH server: it listens only while the policy has ssh
// rules for this machine (Self.SSH), and follows each map (sshChanged).
func (e *Engine) runSSH(ctx context.Context, cl *client.Client) {
	if e.SSHOff {
		return
	}
	key, err := e.sshHostKey()
	if err != nil {
		e.Log.Error("ssh: no host key; the SSH server stays off", "err", err)
		return
	}
	srv := &sshd.Server{Control: cl, View: engineView{e}, HostKey: key, Exe: e.Exe, Iface: e.tunName, Log: e.Log, Port: e.SSHPort, CheckWait: e.SSHCheckWait}
	e.mu.Lock()
	e.ssh = srv
	e.mu.Unlock()
	go e.pollConsole(ctx, cl, srv)
	srv.Run(ctx)
}

// pollConsole answers the console's terminals: while the policy gives
// this machine ssh rules it holds a poll on the server, and dials a
// WebSocket back for each request (no port is opened for it).
func (e *Engine) pollConsole(ctx context.Context, cl *client.Client, srv *sshd.Server) {
	fails := 0
	for ctx.Err() == nil {
		if self := e.view.Self(); self == nil || self.SSH == nil {
			select { // off: look again now and then (a policy may turn it on)
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			continue
		}
		reqs, err := cl.SSHConsoleRequests(ctx, 25*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var we *wire.Error
			if errors.As(err, &we) && we.Code == wire.CodeNotFound {
				e.Log.Info("ssh: the server has no console terminals (older than this agent); not asking again")
				return
			}
			fails++
			select {
			case <-ctx.Done():
				return
			case <-time.After(Backoff(fails)):
			}
			continue
		}
		fails = 0
		for _, r := range reqs {
			go func() {
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				nc, err := cl.DialSSHConsole(dctx, r.ID)
				cancel()
				if err != nil {
					e.Log.Warn("ssh: answering a console terminal", "admin", r.Account, "err", err)
					return
				}
				e.Log.Info("ssh: a console terminal", "admin", r.Account, "user", r.User)
				srv.ServeConsole(nc, r.Account)
			}()
		}
	}
}

// sshChanged tells the SSH server a map arrived.
func (e *Engine) sshChanged() {
	e.mu.Lock()
	srv := e.ssh
	e.mu.Unlock()
	if srv != nil {
		srv.Changed()
	}
}

// SSHStatus reports the SSH server's state (nil: not running).
func (e *Engine) SSHStatus() *sshd.Status {
	e.mu.Lock()
	srv := e.ssh
	e.mu.Unlock()
	if srv == nil {
		return nil
	}
	st := srv.Status()
	return &st
}

// sshHostKey returns the machine's SSH host key, made on first use and
// kept in the secret store beside the WireGuard key.
func (e *Engine) sshHostKey() (gossh.Signer, error) {
	seed, err := e.Store.Get(keystore.SSHHostKey)
	if errors.Is(err, keystore.ErrNotFound) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		seed = priv.Seed()
		if err := e.Store.Put(keystore.SSHHostKey, seed); err != nil {
			return nil, fmt.Errorf("storing the SSH host key: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the SSH host key in the %s keystore is damaged (%d bytes)", e.Store.Backend(), len(seed))
	}
	return gossh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed))
}

// engineView is the map as the SSH server reads it.
type engineView struct{ e *Engine }

func (v engineView) Self() *wire.Self                 { return v.e.view.Self() }
func (v engineView) Peer(id string) (wire.Peer, bool) { return v.e.view.Peer(id) }

// PeerByAddr finds the peer whose overlay address a is (not one it
// routes for: a login comes from a machine, not from behind it).
func (v engineView) PeerByAddr(a netip.Addr) (wire.Peer, bool) {
	var out wire.Peer
	var found bool
	s := a.String()
	v.e.view.Read(func(w *wire.View) {
		for _, p := range w.Peers {
			if p.IPv4 == s || p.IPv6 == s {
				out, found = p, true
				return
			}
		}
	})
	return out, found
}

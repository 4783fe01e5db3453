package engine

// The engine's tunnel supervision: creating the tunnel from the view,
// retrying while it cannot be created, closing it, and what it reports
// to health.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/health"
	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Tunnel is what the engine needs of a WireGuard interface. It reads the
// engine's view (tunnel.Config.View); the engine applies each map to the
// view and then calls Sync with what the map changed.
type Tunnel interface {
	Sync(before map[string]wire.Peer, whole bool, nm wire.NetMap) error
	Peers() ([]tunnel.PeerStatus, error)
	Name() string
	Mode() string // the WireGuard backend: userspace or kernel
	Close() error
	// NAT traversal, which the tunnel owns (all no-ops without it).
	SetServer(self wire.Self)
	Reflexive() netip.AddrPort
	PathStatus() *netpath.Status
}

// filtering is a Tunnel that enforces the access policy (the userspace
// device; a kernel device cannot).
type filtering interface {
	Filter() *filter.Filter
}

// dropTunnelLocked closes the tunnel (and the NAT traversal it owns), if
// one is up, and forgets it; the caller holds e.mu.
func (e *Engine) dropTunnelLocked() {
	if e.link.tun != nil {
		e.unroute()
		e.link.tun.Close()
		e.link.tun = nil
	}
}

// closeTunnel closes the tunnel.
func (e *Engine) closeTunnel() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropTunnelLocked()
}

// bringUp creates the tunnel and applies the whole current view; the
// error, while there is one, is reported in status and health.
func (e *Engine) bringUp() error {
	err := e.createTunnel()
	e.mu.Lock()
	e.link.err = ""
	if err != nil {
		e.link.err = err.Error()
	}
	e.mu.Unlock()
	if err == nil {
		e.syncDNS()
		e.syncRoutes()
	}
	return err
}

// retryTunnel starts keepTunnel unless it runs.
func (e *Engine) retryTunnel() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.link.retrying || e.runCtx == nil {
		return
	}
	e.link.retrying = true
	go e.keepTunnel(e.runCtx)
}

// keepTunnel retries bringUp with backoff until the tunnel is up, the
// operator took it down, or ctx ends.
func (e *Engine) keepTunnel(ctx context.Context) {
	defer func() {
		e.mu.Lock()
		e.link.retrying = false
		e.mu.Unlock()
	}()
	wait := e.RetryWait
	if wait == nil {
		wait = Backoff
	}
	for n := 0; ; n++ {
		t := time.NewTimer(wait(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		e.mu.Lock()
		done := e.link.tun != nil || e.cfg.Down
		e.mu.Unlock()
		if done {
			return
		}
		err := e.bringUp()
		if err == nil {
			e.Log.Info("the tunnel is up after failing", "attempts", n+2)
			return
		}
		if n < 3 || n%10 == 0 {
			e.Log.Warn("the tunnel still cannot be created", "attempt", n+2, "err", err)
		}
	}
}

// createTunnel creates the tunnel and applies the whole current view.
func (e *Engine) createTunnel() error {
	up := e.NewTunnel
	if up == nil {
		up = func(c tunnel.Config) (Tunnel, error) { return tunnel.Up(c, e.Log) }
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.link.tun != nil {
		return nil
	}
	c := e.link.cfg
	self := e.view.Self()
	c.Self, c.View = *self, &e.view
	if c.Mode != tunnel.ModeKernel && e.cl != nil {
		// Userspace WireGuard with NAT traversal: direct paths where they
		// work, the server's relay where they do not.
		c.NAT = &tunnel.NAT{Relay: e.cl.DialRelay, OnReflexive: func(netip.AddrPort) { wake(e.endpointsDirty) }, Tunneled: e.tunneled,
			CheckPeerRelay: e.cl.CheckPeerRelay, PeerRelayRate: e.PeerRelayRate}
		c.Lazy, c.IdleAfter = !e.EagerPeers, e.PeerIdle
	}
	tun, err := up(c)
	if err != nil {
		return err
	}
	t0 := e.now()
	// A new device has no peers: everything in the view is added.
	if err := tun.Sync(nil, true, wire.NetMap{Full: true, Self: self}); err != nil {
		tun.Close()
		return err
	}
	e.link.tun, e.link.err = tun, "" // together: status never shows the tunnel up with the old error
	e.Log.Info("tunnel up", "iface", tun.Name(), "ipv4", c.Self.IPv4, "ipv6", c.Self.IPv6, "peers", e.view.Len(),
		"peers_took", time.Since(t0).Round(time.Microsecond))
	return nil
}

func (e *Engine) tunName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.link.tun != nil {
		return e.link.tun.Name()
	}
	return e.Iface
}

// Down removes the tunnel but keeps syncing, and remembers the choice
// across restarts.
func (e *Engine) Down() error {
	e.mu.Lock()
	if e.cancel == nil {
		e.mu.Unlock()
		return errors.New("engine: not running")
	}
	e.dropTunnelLocked()
	e.cfg.Down = true
	cfg := e.cfg
	e.mu.Unlock()
	e.stopDNS("the tunnel was taken down")
	e.Log.Info("tunnel taken down by the operator")
	return state.SaveConfig(e.Paths.ConfigFile(), cfg)
}

// Up brings the tunnel back after Down.
func (e *Engine) Up() error {
	e.mu.Lock()
	if e.cancel == nil {
		e.mu.Unlock()
		return errors.New("engine: not running")
	}
	e.cfg.Down = false
	cfg := e.cfg
	e.mu.Unlock()
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		return err
	}
	if err := e.bringUp(); err != nil {
		e.retryTunnel()
		return fmt.Errorf("%w (the agent keeps trying)", err)
	}
	return nil
}

// tunnelHealth summarises the tunnel for a health report.
func (e *Engine) tunnelHealth() wire.TunnelHealth {
	e.mu.Lock()
	tun, tunErr := e.link.tun, e.link.err
	e.mu.Unlock()
	th := wire.TunnelHealth{Peers: []wire.PeerHealth{}}
	if tun == nil {
		th.Error = wire.ClipFact(tunErr, wire.MaxTunnelErrorLen)
		return th
	}
	th.Up, th.Interface = true, tun.Name()
	ps, err := tun.Peers()
	if err != nil {
		return th
	}
	all := make([]wire.PeerHealth, 0, len(ps))
	for _, p := range ps {
		ph := wire.PeerHealth{ID: p.ID, Name: p.Name, Endpoint: p.Endpoint, RxBytes: p.RxBytes, TxBytes: p.TxBytes,
			Path: p.Path, LatencyMS: float64(p.Latency.Microseconds()) / 1000}
		if !p.LastHandshake.IsZero() {
			t := p.LastHandshake
			ph.LastHandshake = &t
		}
		if !p.LastProbe.IsZero() {
			t := p.LastProbe
			ph.LastProbe = &t
		}
		all = append(all, ph)
	}
	th.PeerCount = len(all)
	th.Peers, th.Connected = health.TopPeers(all, e.now())
	return th
}

package engine

// Subnet routes and exit nodes: what this machine advertises (told to
// the server, which routes nothing until it is approved), the routes it
// uses (from its map's Self: WireGuard allowed IPs on the carrying peer,
// OS routes on the tunnel), and, when it carries routes itself,
// forwarding and source NAT. Everything it changes in the OS is recorded
// by routes.Manager and undone on down, stop, logout, revocation and the
// next start after a crash.

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Routing is the machine owner's choices about routes (flags, kept in
// the config).
type Routing struct {
	Advertise []netip.Prefix // subnets beside this machine, offered to the fleet
	ExitNode  bool           // offer this machine as an exit node
	// NoSNAT: forwarded traffic keeps the client's overlay address (the
	// site routes the overlay back to this machine).
	NoSNAT bool
	Use    routes.Options // how this machine uses others' routes
	// Checks are the router's health checks of its routes
	// (--route-check): while one fails, the server makes it a standby.
	Checks []routes.Check
}

// Advert is what Routing tells the server.
func (r Routing) Advert() wire.RoutesAdvert {
	a := wire.RoutesAdvert{Routes: []string{}, ExitNode: r.ExitNode}
	for _, p := range r.Advertise {
		a.Routes = append(a.Routes, p.String())
	}
	return a
}

// routeState is the engine's view of routes, under Engine.mu.
type routeState struct {
	plan   []routes.Route
	serve  []string // what this machine forwards for the fleet (Self.Serves) when it does
	err    string   // why routes could not be put into effect, while they cannot
	advErr string   // why the server was not told what this machine advertises
	dirty  chan struct{}
	live   routes.Liveness // which carriers stopped answering (watchRoutes)
	// inTunnel are the prefixes the tunnel carries: the overlay's and the
	// subnet routes installed (read by netpath, on its own goroutines).
	inTunnel atomic.Pointer[[]netip.Prefix]
	// failing is why this router's route checks fail ("": they pass);
	// stopCheck ends the checker of the checks in force.
	failing   string
	stopCheck context.CancelFunc
}

// SetRouting replaces the owner's choices (`wirefleet-agent set`): the
// advertisement goes to the server, the routes in use are planned again.
func (e *Engine) SetRouting(r Routing) {
	e.mu.Lock()
	e.Routing = r
	ch, ctx := e.rt.dirty, e.runCtx
	e.mu.Unlock()
	if ctx != nil {
		e.startChecks(ctx)
	}
	if ch != nil {
		wake(ch)
	}
	e.syncRoutes()
}

// startChecks runs the route checks in force (replacing a checker of
// earlier ones) and reports their outcome to the server with the
// advertisement.
func (e *Engine) startChecks(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt.stopCheck != nil {
		e.rt.stopCheck()
		e.rt.stopCheck = nil
	}
	e.rt.failing = ""
	if len(e.Routing.Checks) == 0 {
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	e.rt.stopCheck = cancel
	c := &routes.Checker{Checks: e.Routing.Checks}
	go c.Run(cctx, func(failing string) {
		if cctx.Err() != nil {
			return
		}
		e.mu.Lock()
		e.rt.failing = failing
		ch := e.rt.dirty
		e.mu.Unlock()
		if failing != "" {
			e.Log.Warn("route check failing: the server makes this router a standby", "reason", failing)
		} else {
			e.Log.Info("route check passes again")
		}
		wake(ch)
	})
}

// reportRoutes tells the server what this machine advertises, at start
// and whenever it changes, retrying until the server has it.
func (e *Engine) reportRoutes(ctx context.Context, cl routesAdvertiser) {
	var last string
	failures := 0
	for {
		e.mu.Lock()
		adv := e.Routing.Advert()
		adv.Failing = e.rt.failing
		e.mu.Unlock()
		var retry <-chan time.Time
		if key := fmt.Sprint(adv); key != last {
			if e.advertise(ctx, cl, adv) {
				failures, last = 0, key
			} else {
				if ctx.Err() != nil {
					return
				}
				failures++
				retry = time.After(Backoff(failures))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.rt.dirty:
		case <-retry:
		}
	}
}

type routesAdvertiser interface {
	AdvertiseRoutes(context.Context, wire.RoutesAdvert) (wire.RoutesAdvert, error)
}

// advertise sends one advertisement; false: try again later.
func (e *Engine) advertise(ctx context.Context, cl routesAdvertiser, adv wire.RoutesAdvert) bool {
	_, err := cl.AdvertiseRoutes(ctx, adv)
	switch {
	case err == nil:
		e.setRoutesErr("")
		if len(adv.Routes) > 0 || adv.ExitNode {
			e.Log.Info("advertised to the server (routed once approved)", "routes", adv.Routes, "exit_node", adv.ExitNode)
		}
		return true
	case wire.ErrorCode(err) == wire.CodeNotFound:
		// A server from before routes: nothing to tell it, and no point
		// retrying until the owner changes something.
		if len(adv.Routes) > 0 || adv.ExitNode {
			e.Log.Warn("the server does not know subnet routes (it is older than this agent): nothing is advertised", "routes", adv.Routes)
			e.setRoutesErr("the server is older than this agent and does not know subnet routes")
		}
		return true
	case ctx.Err() != nil:
		return false
	}
	e.Log.Warn("telling the server what this machine advertises", "routes", adv.Routes, "exit_node", adv.ExitNode, "err", err)
	e.setRoutesErr("advertising routes: " + err.Error())
	return false
}

func (e *Engine) setRoutesErr(s string) {
	e.mu.Lock()
	e.rt.advErr = s
	e.mu.Unlock()
}

// syncRoutes puts the map's routes into effect: which peer carries each
// (tunnel allowed IPs), the OS's routes, and forwarding when this
// machine carries routes itself. Without a tunnel nothing is installed.
func (e *Engine) syncRoutes() {
	if e.Routes == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	tun, ok := e.link.tun.(routedTunnel)
	if !ok || e.link.tun == nil {
		return
	}
	self := e.view.Self()
	env := routes.Env{
		Peer:     e.view.Peer,
		Down:     e.peerDown,
		Existing: func(p netip.Prefix) bool { return e.Routes.Sys.Existing(tun.Name(), p) },
		Reserved: e.reserved(),
	}
	plan := routes.Plan(self, env, e.Routing.Use)
	var errs []string
	if err := tun.SetRoutes(routes.ByPeer(plan)); err != nil {
		errs = append(errs, err.Error())
	}
	if err := e.Routes.Routes(tun.Name(), routes.Installed(plan)); err != nil {
		errs = append(errs, err.Error())
	}
	exit := routes.ExitVia(plan) != ""
	var keep []netip.Addr
	if exit {
		keep = routes.Resolvers(resolvConf, self)
	}
	if err := e.Routes.Exit(tun.Name(), exit, e.Routing.Use.AllowLAN, keep); err != nil {
		errs = append(errs, err.Error())
	}
	var serve []string
	if self != nil {
		serve = self.Serves
	}
	if err := e.Routes.Forward(tun.Name(), len(serve) > 0, !e.Routing.NoSNAT); err != nil {
		errs = append(errs, err.Error())
	}
	if !slices.Equal(serve, e.rt.serve) && len(serve) > 0 {
		e.Log.Info("carrying routes for the fleet", "routes", serve, "snat", !e.Routing.NoSNAT)
	}
	if ids := standbys(plan); len(ids) > 0 && !slices.Equal(standbys(e.rt.plan), ids) {
		go tun.Warm(ids) // a failover then finds the handshake done
	}
	e.rt.plan, e.rt.serve, e.rt.err = plan, serve, ""
	carried := routes.Installed(plan)
	if self != nil {
		for _, s := range []string{self.Prefix4, self.Prefix6} {
			if p, err := netip.ParsePrefix(s); err == nil {
				carried = append(carried, p)
			}
		}
	}
	e.rt.inTunnel.Store(&carried)
	if len(errs) > 0 {
		e.rt.err = strings.Join(errs, "; ")
		e.Log.Warn("routes could not all be put into effect", "err", e.rt.err)
	}
}

// tunneled reports whether packets to a go into the tunnel itself: the
// overlay, or a subnet route through a peer. netpath never takes such an
// address for a direct path to a peer.
func (e *Engine) tunneled(a netip.Addr) bool {
	ps := e.rt.inTunnel.Load()
	if ps == nil {
		return false
	}
	for _, p := range *ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// marks reports whether the agent marks its own traffic (Linux, with
// routes managed): what keeps it out of the tunnel when an exit node is
// used.
func (e *Engine) marks() bool { return e.Routes != nil && runtime.GOOS == "linux" }

// routedTunnel is a tunnel that carries routes (the userspace device).
type routedTunnel interface {
	Tunnel
	SetRoutes(map[string][]netip.Prefix) error
	Warm(ids []string)
}

// standbys lists the peers that stand by for the routes in use.
func standbys(plan []routes.Route) []string {
	var ids []string
	for _, r := range plan {
		if r.Via != "" && r.Skipped == "" {
			for _, id := range r.Standby {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	return ids
}

// warmEvery is how often the standbys get a keepalive: under WireGuard's
// persistent-keepalive interval, so a standby stays configured (never
// swept as idle) and its session current.
const warmEvery = 25 * time.Second

// resolvConf names the system's DNS servers (kept outside the tunnel
// while an exit node is used).
var resolvConf = "/etc/resolv.conf"

// peerDown reports that the client sees a route's carrier as gone:
// failover does not wait for the server. e.mu is held.
func (e *Engine) peerDown(id string) bool { return e.rt.live.Down(id) }

// watchEvery is how often watchRoutes reads the carriers' counters.
const watchEvery = 250 * time.Millisecond

// watchRoutes moves a route to its standby when the carrier stops
// answering (routes.Liveness), without waiting for the server: a
// router whose network died keeps its relay session for tens of seconds
// on the server's side.
func (e *Engine) watchRoutes(ctx context.Context) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	lastWarm := e.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		tun, plan := e.link.tun, e.rt.plan
		e.mu.Unlock()
		if rt, ok := tun.(routedTunnel); ok && tun != nil && e.now().Sub(lastWarm) >= warmEvery {
			lastWarm = e.now()
			if ids := standbys(plan); len(ids) > 0 {
				rt.Warm(ids)
			}
		}
		carriers, watched := map[string]bool{}, map[string]bool{}
		for _, r := range plan {
			if r.Via == "" || len(r.Standby) == 0 {
				continue
			}
			watched[r.Via] = true
			carriers[r.Via] = true
			for _, id := range r.Standby {
				carriers[id] = true
			}
		}
		if tun == nil || len(watched) == 0 {
			continue
		}
		ps, err := tun.Peers()
		if err != nil {
			continue
		}
		now, changed := e.now(), false
		e.mu.Lock()
		for _, p := range ps {
			if watched[p.ID] && e.rt.live.Observe(p.ID, p.TxBytes, p.RxBytes, now) {
				changed = true
				if e.rt.live.Down(p.ID) {
					e.Log.Warn("routes: a router stopped answering; its routes move to a standby", "peer", p.Name, "silent_for", routes.Silence)
				} else {
					e.Log.Info("routes: a router answers again", "peer", p.Name)
				}
			}
		}
		e.rt.live.Forget(carriers)
		e.mu.Unlock()
		if changed {
			e.syncRoutes()
		}
	}
}

// reserved are the addresses that must never be routed into the tunnel:
// the server's. e.mu is held.
func (e *Engine) reserved() []netip.Addr {
	if e.cl == nil {
		return nil
	}
	return e.cl.ServerAddrs()
}

// unroute removes what routes put into the OS (the tunnel's allowed IPs
// go with the tunnel). e.mu is held.
func (e *Engine) unroute() {
	if e.Routes == nil {
		return
	}
	if err := e.Routes.Restore(); err != nil {
		e.Log.Warn("removing routes", "err", err)
	}
	e.rt.plan, e.rt.serve = nil, nil
}

package fleet

import (
	"context"
	"net/netip"
	"sort"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// AdvertiseRoutes records what a machine advertises as a subnet router or
// exit node and returns the set as stored. Nothing is routed until an
// admin or the policy approves it. Routes that would take the fleet's own
// traffic — the overlay's ranges, the server's address — are refused.
func (s *Service) AdvertiseRoutes(ctx context.Context, a Actor, machineID string, adv wire.RoutesAdvert) ([]string, error) {
	routes, err := wire.ValidateRoutes(adv)
	if err != nil {
		return nil, err
	}
	v4, v6 := s.hub.Overlay()
	for _, r := range routes {
		p := netip.MustParsePrefix(r)
		if p.Bits() == 0 {
			continue // an exit node's default routes cover everything by design
		}
		for _, o := range []netip.Prefix{v4, v6} {
			if o.IsValid() && o.Overlaps(p) {
				return nil, wire.Errorf(wire.CodeInvalidRoute, "route %s overlaps the fleet's own range %s: machines there are reached directly", p, o)
			}
		}
		for _, sa := range s.cfg.ServerAddrs {
			if p.Contains(sa) {
				return nil, wire.Errorf(wire.CodeInvalidRoute, "route %s contains the server's address %s: agents would send their connection to the server into the tunnel", p, sa)
			}
		}
	}
	failing := wire.ClipFact(adv.Failing, wire.MaxFailing)
	m, ch, changed, err := s.db.SetAdvertisedRoutes(ctx, a, machineID, routes, failing)
	if err != nil {
		return nil, err
	}
	if changed {
		s.log.Info("routes advertised", "machine", m.ID, "name", m.Name, "routes", routes, "failing", failing)
		if err := s.synced(ctx, ch); err != nil {
			return nil, err
		}
	}
	if routes == nil {
		routes = []string{}
	}
	return routes, nil
}

// DecideRoutes approves or rejects some of a machine's advertised routes
// (all of them when the decision names none).
func (s *Service) DecideRoutes(ctx context.Context, a Actor, idOrName string, d wire.RouteDecision, approve bool) (wire.Machine, error) {
	if len(d.Routes) > wire.MaxRoutes {
		return wire.Machine{}, wire.Errorf(wire.CodeInvalidRoute, "%d routes; a machine advertises at most %d", len(d.Routes), wire.MaxRoutes)
	}
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	m, ch, err := s.db.DecideRoutes(ctx, a, idOrName, d, approve)
	if err == nil {
		s.log.Info("routes decided", "machine", m.ID, "name", m.Name, "approve", approve, "decision", d.String())
	}
	return s.done(ctx, m, ch, err)
}

// Routes lists every route active machines advertise, with its state,
// whether its machine carries it now (primary) and is online, and
// whether the policy lets anyone use it.
func (s *Service) Routes(ctx context.Context) ([]wire.Route, error) {
	ms, err := s.db.ListMachines(ctx, store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		return nil, err
	}
	pol, _ := s.hub.Policy()
	out := []wire.Route{}
	for _, m := range ms {
		if m.Routes == nil {
			continue
		}
		online := s.cfg.Presence.Online(m, s.Now())
		for _, r := range m.Routes.Advertised {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				continue
			}
			rt := wire.Route{Machine: m.ID, MachineName: m.Name, Prefix: r, ExitNode: p.Bits() == 0,
				State: routing.State(m, pol, r), Online: online, Failing: m.Routes.Failing}
			rt.Primary = (rt.State == wire.RouteApproved || rt.State == wire.RouteAutoApproved) && s.hub.Primary(p) == m.ID
			rt.Unreachable = pol != nil && !pol.Reachable(p)
			out = append(out, rt)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Prefix != out[j].Prefix {
			return out[i].Prefix < out[j].Prefix
		}
		return out[i].MachineName < out[j].MachineName
	})
	return out, nil
}

// routerDebounce gathers the session changes of routers that come and go
// together (a server start, a site's uplink) into one re-evaluation.
const routerDebounce = 50 * time.Millisecond

// RouterSession is told when a machine's relay session opens or ends.
// When that changes which router can carry a prefix — its primary is gone
// and a standby is there — it records a change every hub applies, so
// that every client moves to the standby with its next map, well before
// the primary's long-poll would time out.
func (s *Service) RouterSession(id string, up bool) {
	if !s.hub.IsRouter(id) {
		return
	}
	s.routerMu.Lock()
	defer s.routerMu.Unlock()
	if s.routerTimer != nil {
		return // one is due: it looks at every router
	}
	s.routerTimer = time.AfterFunc(routerDebounce, func() {
		s.routerMu.Lock()
		s.routerTimer = nil
		s.routerMu.Unlock()
		if !s.hub.RoutesStale() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch, err := s.db.LogSelfChange(ctx, Actor{Name: "system:routes", SourceIP: "local"}, "routes", "routes.failover",
			map[string]any{"machine": id, "up": up})
		if err == nil {
			err = s.synced(ctx, ch)
		}
		if err != nil {
			s.log.Error("routes: moving a prefix to its standby router", "err", err)
			return
		}
		s.log.Info("routes: a router's session changed; prefixes moved to the routers that are there", "machine", id, "up", up)
	})
}

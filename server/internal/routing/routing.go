// Package routing decides which advertised routes are in force and which
// router carries each: the rules the hub (maps), fleet (the admin API)
// and the console share, so a route is "approved" in one place only.
//
// A route is in force when its machine advertises it, no admin rejected
// it, and an admin or the policy's autoApprovers approved it. An exit
// node is its two default routes, decided together. Where several routers
// carry one prefix (high availability), every client lists them in the
// same order: the primary first, then the standbys, so that all clients
// agree on the primary and each can fail over to the next on its own.
package routing

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// State returns the state of one route a machine advertises.
func State(m wire.Machine, pol *policy.Policy, prefix string) string {
	return state(m, policy.MachineOf(m), pol, prefix)
}

// state is State with what the autoApprovers match m by (pm) computed
// once by the caller.
func state(m wire.Machine, pm policy.Machine, pol *policy.Policy, prefix string) string {
	if m.Routes == nil {
		return wire.RoutePending
	}
	switch {
	case slices.Contains(m.Routes.Rejected, prefix):
		return wire.RouteRejected
	case slices.Contains(m.Routes.Approved, prefix):
		return wire.RouteApproved
	}
	if pol != nil {
		p, err := netip.ParsePrefix(prefix)
		switch {
		case err != nil:
		case p.Bits() == 0 && pol.AutoApprovesExitNode(pm):
			return wire.RouteAutoApproved
		case p.Bits() > 0 && pol.AutoApproves(pm, p):
			return wire.RouteAutoApproved
		}
	}
	return wire.RoutePending
}

// Enabled returns the routes of m in force: its subnets, and whether it
// is an exit node (both default routes approved). A revoked machine
// carries nothing.
func Enabled(m wire.Machine, pol *policy.Policy) (subnets []netip.Prefix, exit bool) {
	if m.Routes == nil || m.State != wire.MachineActive {
		return nil, false
	}
	exits, pm := 0, policy.MachineOf(m)
	for _, s := range m.Routes.Advertised {
		st := state(m, pm, pol, s)
		if st != wire.RouteApproved && st != wire.RouteAutoApproved {
			continue
		}
		if wire.IsExitRoute(s) {
			exits++
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			subnets = append(subnets, p)
		}
	}
	return subnets, exits == 2
}

// Serves returns what a machine carries, as Self.Serves says it: its
// subnets, and the default routes when it is an exit node.
func Serves(subnets []netip.Prefix, exit bool) []string {
	var out []string
	for _, p := range subnets {
		out = append(out, p.String())
	}
	if exit {
		out = append(out, wire.ExitRoute4.String(), wire.ExitRoute6.String())
	}
	return out
}

// Table is the fleet's routes in force: per prefix, the routers that
// carry it, primary first.
type Table struct {
	via  map[netip.Prefix][]string
	down map[string]bool // routers that were down when it was built
}

// Router is one machine's routes in force, for Build.
type Router struct {
	ID      string
	Subnets []netip.Prefix
	Exit    bool
	// Since is when the machine enrolled: the oldest router of a prefix
	// is its primary.
	Since time.Time
	// Down: the server sees it gone (its relay session ended); it is
	// listed after the routers that are up, as a last resort.
	Down bool
}

// Build makes the table. The primary of a prefix is the router that is
// up and enrolled first (then the lowest ID); routers that are down come
// last. One exception stops flapping: a router that was down in prev and
// is back does not take its prefix back from the primary that replaced
// it while that one stays up.
func Build(routers []Router, prev *Table) *Table {
	t := &Table{via: map[netip.Prefix][]string{}}
	routers = slices.Clone(routers)
	slices.SortFunc(routers, func(a, b Router) int {
		if a.Down != b.Down {
			if a.Down {
				return 1
			}
			return -1
		}
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	t.down = map[string]bool{}
	for _, r := range routers {
		if r.Down {
			t.down[r.ID] = true
		}
	}
	defer func() {
		if prev == nil {
			return
		}
		for p, ids := range t.via {
			if old := prev.Primary(p); old != "" && !t.down[old] && ids[0] != old && prev.down[ids[0]] {
				i := slices.Index(ids, old)
				if i > 0 {
					t.via[p] = slices.Concat([]string{old}, ids[:i], ids[i+1:])
				}
			}
		}
	}()
	for _, r := range routers {
		for _, p := range r.Subnets {
			t.via[p] = append(t.via[p], r.ID)
		}
		if r.Exit {
			t.via[wire.ExitRoute4] = append(t.via[wire.ExitRoute4], r.ID)
			t.via[wire.ExitRoute6] = append(t.via[wire.ExitRoute6], r.ID)
		}
	}
	return t
}

// All returns the table: per prefix, its routers, primary first. The
// caller must not change it.
func (t *Table) All() map[netip.Prefix][]string { return t.via }

// Len returns the number of prefixes in force.
func (t *Table) Len() int { return len(t.via) }

// Primary returns the router carrying prefix now ("" when none does).
func (t *Table) Primary(p netip.Prefix) string {
	if ids := t.via[p]; len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// For returns the routes a machine may use: those its policy access
// (policy.RouteAccess; nil without a policy) grants, minus the ones it
// carries itself, sorted by prefix.
func (t *Table) For(self string, access []string) []wire.SelfRoute {
	var out []wire.SelfRoute
	for p, ids := range t.via {
		if !policy.Grants(access, p) {
			continue
		}
		via := make([]string, 0, len(ids))
		for _, id := range ids {
			if id != self {
				via = append(via, id)
			}
		}
		if len(via) == 0 || len(via) < len(ids) {
			// A router does not route its own subnet through a peer.
			continue
		}
		out = append(out, wire.SelfRoute{Prefix: p.String(), Via: via})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

// Equal reports whether two tables route the same prefixes through the
// same routers in the same order.
func (t *Table) Equal(o *Table) bool {
	if t == nil || o == nil {
		return t == o
	}
	if len(t.via) != len(o.via) {
		return false
	}
	for p, ids := range t.via {
		if !slices.Equal(ids, o.via[p]) {
			return false
		}
	}
	return maps.Equal(t.down, o.down)
}

package netmap

// Subnet routes and exit nodes in the map. A router's routes in force
// make its class (the policy's route atoms); the fleet's table of which
// router carries which prefix goes to each machine in its Self, filtered
// by what the policy lets it use (policy.RouteAccess). A change of the
// table resends every Self, as a DNS change does: it is rare (an approval,
// a router enrolled or revoked) and small.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
)

// machineOf rebuilds what routing needs of an entry.
func (e *entry) machineOf() wire.Machine {
	return wire.Machine{ID: e.peer.ID, Name: e.peer.Name, Tags: e.attrs.Tags, IPv4: e.peer.IPv4, IPv6: e.peer.IPv6,
		State: wire.MachineActive, Routes: e.routes}
}

// reapprove recomputes which routes are in force after a policy change
// (its autoApprovers) and reports whether any moved. h.mu is held.
func (h *Hub) reapprove() bool {
	moved := false
	for id := range h.routers {
		e := h.machines[id]
		if e == nil {
			continue
		}
		subnets, exit := routing.Enabled(e.machineOf(), h.pol)
		if exit != e.attrs.ExitNode || !slices.Equal(subnets, e.attrs.Routes) {
			e.attrs.Routes, e.attrs.ExitNode = subnets, exit
			moved = true
		}
	}
	return moved
}

// rebuildRoutes rebuilds the route table and reports whether it changed.
// Machines no longer in the map stop counting as routers. h.mu is held.
func (h *Hub) rebuildRoutes() bool {
	var rs []routing.Router
	for id := range h.routers {
		e := h.machines[id]
		if e == nil || e.routes == nil {
			delete(h.routers, id)
			continue
		}
		if len(e.attrs.Routes) > 0 || e.attrs.ExitNode {
			// Down: its relay session is gone, or its own check of its
			// routes fails.
			down := h.opts.RouterUp != nil && !h.opts.RouterUp(id) || e.routes.Failing != ""
			rs = append(rs, routing.Router{ID: id, Subnets: e.attrs.Routes, Exit: e.attrs.ExitNode, Since: e.created, Down: down})
		}
	}
	t := routing.Build(rs, h.routes)
	if h.routes.Equal(t) {
		return false
	}
	h.routes, h.selfRoutes = t, nil
	return true
}

// routesJSON returns Self.Routes for a machine, encoded (nil: none):
// shared per class, except for routers (a router never routes its own
// prefixes through a peer). h.mu is read-locked.
func (h *Hub) routesJSON(e *entry) []byte {
	if h.routes == nil || h.routes.Len() == 0 {
		return nil
	}
	var access []string // nil: no policy, every route
	if h.pol != nil {
		access = h.pol.RouteAccess(e.class)
	}
	if len(e.attrs.Routes) > 0 || e.attrs.ExitNode {
		return encodeRoutes(h.routes.For(e.peer.ID, access))
	}
	h.classMu.Lock()
	defer h.classMu.Unlock()
	if enc, ok := h.selfRoutes[e.class]; ok {
		return enc
	}
	enc := encodeRoutes(h.routes.For("", access))
	if h.selfRoutes == nil {
		h.selfRoutes = map[policy.Class][]byte{}
	}
	h.selfRoutes[e.class] = enc
	return enc
}

func encodeRoutes(rs []wire.SelfRoute) []byte {
	if len(rs) == 0 {
		return nil
	}
	b, err := json.Marshal(rs)
	if err != nil { // strings only: always encodes
		panic(fmt.Sprintf("netmap: encode routes: %v", err))
	}
	return b
}

// RoutesStale reports whether the routers' liveness (Options.RouterUp)
// would change which router carries a prefix: the caller then records a
// change (store.LogSelfChange), which every hub applies by rebuilding its
// table, and every machine gets its routes again.
func (h *Hub) RoutesStale() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.opts.RouterUp == nil || h.routes == nil {
		return false
	}
	for _, ids := range h.routes.All() {
		if len(ids) > 1 && !h.opts.RouterUp(ids[0]) && slices.ContainsFunc(ids[1:], h.opts.RouterUp) {
			return true // a standby can take over
		}
	}
	return false
}

// IsRouter reports whether machine id carries routes for the fleet.
func (h *Hub) IsRouter(id string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	e := h.machines[id]
	return e != nil && (len(e.attrs.Routes) > 0 || e.attrs.ExitNode)
}

// Overlay returns the overlay's prefixes: no route may overlap them.
func (h *Hub) Overlay() (v4, v6 netip.Prefix) { return h.prefix4, h.prefix6 }

// Primary returns the machine carrying prefix for the fleet now ("":
// none).
func (h *Hub) Primary(p netip.Prefix) string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.routes == nil {
		return ""
	}
	return h.routes.Primary(p)
}

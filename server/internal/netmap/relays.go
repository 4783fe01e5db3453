package netmap

// Peer relays in the map: the machines the policy names in "relays" get
// Self.PeerRelay, every other machine their keys and addresses in
// Self.Relays. The list changes rarely (a policy change, a relay enrolled,
// revoked or moving); a change resends every Self, as a route change does.

import (
	"maps"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// isRelay reports whether e relays under the hub's policy. h.mu is held.
func (h *Hub) isRelay(e *entry) bool { return h.pol != nil && h.pol.IsRelay(e.attrs) }

// scanRelays finds the relays among every machine (after a policy change)
// and reports whether the list changed. h.mu is held.
func (h *Hub) scanRelays() bool {
	h.relayIDs = map[string]bool{}
	if h.pol != nil && h.pol.HasRelays() {
		for id, e := range h.machines {
			if h.isRelay(e) {
				h.relayIDs[id] = true
			}
		}
	}
	return h.rebuildRelays()
}

// noteRelay updates the relays after machine id changed (or left) and
// reports whether the list changed. h.mu is held.
func (h *Hub) noteRelay(id string) bool {
	e := h.machines[id]
	now := e != nil && h.isRelay(e)
	if !now && !h.relayIDs[id] {
		return false
	}
	if now {
		h.relayIDs[id] = true
	} else {
		delete(h.relayIDs, id)
	}
	return h.rebuildRelays()
}

func (h *Hub) rebuildRelays() bool {
	var rs []wire.PeerRelay
	for _, id := range slices.Sorted(maps.Keys(h.relayIDs)) {
		p := h.machines[id].peer
		rs = append(rs, wire.PeerRelay{ID: p.ID, Name: p.Name, PublicKey: p.PublicKey, Endpoints: p.Endpoints})
	}
	same := slices.EqualFunc(rs, h.relays, func(a, b wire.PeerRelay) bool {
		return a.ID == b.ID && a.Name == b.Name && a.PublicKey == b.PublicKey && slices.Equal(a.Endpoints, b.Endpoints)
	})
	h.relays = rs
	return !same
}

// relaysFor is Self.Relays for machine id: every relay but itself.
func (h *Hub) relaysFor(id string) []wire.PeerRelay {
	if len(h.relays) == 0 || len(h.relays) == 1 && h.relays[0].ID == id {
		return nil
	}
	out := make([]wire.PeerRelay, 0, len(h.relays))
	for _, r := range h.relays {
		if r.ID != id {
			out = append(out, r)
		}
	}
	return out
}

// PeerRelayAllowed reports whether machine relay may relay between the
// machines with WireGuard keys a and b: relay is a relay under the
// policy, both are in the map, and the policy lets them reach each other.
func (h *Hub) PeerRelayAllowed(relay, a, b string) (isRelay, allowed bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.relayIDs[relay] {
		return false, false
	}
	var ea, eb *entry
	for _, e := range h.machines {
		switch e.peer.PublicKey {
		case a:
			ea = e
		case b:
			eb = e
		}
	}
	if ea == nil || eb == nil || ea == eb {
		return true, false
	}
	return true, h.pol.Visible(ea.class, eb.class)
}

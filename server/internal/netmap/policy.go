package netmap

import (
	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"slices"
)

// The access policy's classes as the hub keeps them: compiled from the
// stored policy, recomputed when it changes, and per class the last map
// version at which anything its machines see changed (delta.go reads
// them).

// loadPolicy compiles a stored policy. One that no longer loads (it was
// accepted by another version of the server) denies everything rather
// than opening the network.
func (h *Hub) loadPolicy(sp store.StoredPolicy) (*policy.Policy, int64) {
	if sp.Text == "" {
		return nil, sp.Version
	}
	p, err := policy.Load([]byte(sp.Text))
	if err != nil {
		h.log.Error("netmap: the stored access policy does not load; denying all traffic until it is fixed", "version", sp.Version, "err", err)
		p, _ = policy.Load([]byte(`{"rules": []}`))
	}
	return p, sp.Version
}

// AttrsUnder returns what the policy knows of a machine with its routes
// in force under pol (routing.Enabled: admins' approvals and pol's
// autoApprovers).
func AttrsUnder(m wire.Machine, pol *policy.Policy) policy.Machine {
	pm := policy.MachineOf(m)
	pm.Routes, pm.ExitNode = routing.Enabled(m, pol)
	return pm
}

// reclass recomputes every machine's class after a policy change (from
// before), the directory groups its peers see, and when the postures'
// definitions changed, the postures they see; it reports whether some
// machine's postures or groups changed. h.mu is
// held (or the hub is not shared yet).
func (h *Hub) reclass(before *policy.Policy) (postures bool) {
	h.byClass = nil
	same := policy.SamePostures(before, h.pol)
	if h.pol == nil {
		for _, e := range h.machines {
			e.class = ""
			postures = e.setPeerAttrs(nil, nil) || postures
		}
		return postures
	}
	h.byClass = map[policy.Class]map[string]bool{}
	h.lastRelevant = nil // readers before the policy change see it changed anyway
	for id, e := range h.machines {
		e.class = h.pol.ClassOf(e.attrs)
		h.addClass(id, e.class)
		held := e.peer.Postures
		if !same {
			held = h.pol.Held(e.attrs)
		}
		postures = e.setPeerAttrs(held, h.pol.DirectoryGroups(e.attrs)) || postures
	}
	return postures
}

// setPeerAttrs records the postures and directory groups e's peers see,
// re-encoding the peer when they changed (and reporting so).
func (e *entry) setPeerAttrs(ps, groups []string) bool {
	if slices.Equal(ps, e.peer.Postures) && slices.Equal(groups, e.peer.Groups) {
		return false
	}
	e.peer.Postures, e.peer.Groups = ps, groups
	e.encode()
	return true
}

// noteRelevant records, for every class that saw the machine before the
// change (old) or sees it after (now), that it changed at version v. h.mu
// is held.
func (h *Hub) noteRelevant(old, now *entry, v uint64) {
	if h.pol == nil {
		return
	}
	if h.lastRelevant == nil {
		h.lastRelevant = map[policy.Class]uint64{}
	}
	for k := range h.byClass {
		if old != nil && h.pol.Visible(k, old.class) || now != nil && h.pol.Visible(k, now.class) {
			h.lastRelevant[k] = v
		}
	}
}

func (h *Hub) addClass(id string, c policy.Class) {
	if h.byClass == nil {
		return
	}
	set := h.byClass[c]
	if set == nil {
		set = map[string]bool{}
		h.byClass[c] = set
	}
	set[id] = true
}

func (h *Hub) dropClass(id string, c policy.Class) {
	if set := h.byClass[c]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(h.byClass, c)
		}
	}
}

// maxPolicyDelta is the most changes a delta under a policy walks;
// readers further behind get the full map of their class.
const maxPolicyDelta = 1024

func visible(p *policy.Policy, a, b policy.Class) bool {
	return p == nil || p.Visible(a, b)
}

func classUnder(p *policy.Policy, m policy.Machine) policy.Class {
	if p == nil {
		return ""
	}
	return p.ClassOf(m)
}

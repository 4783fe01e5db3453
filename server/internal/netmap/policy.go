package netmap

import (
	"slices"
	"sort"

	"github.com/wirefleet/wirefleet/pkg/policy"
)

// Maps under an access policy. A machine's map holds the machines it may
// reach or that may reach it. Deltas stay deltas:
//
//   - a changed machine is sent as added, changed or removed according to
//     whether the reader saw it before the change (its state then is kept
//     in the log) and sees it now;
//   - when the policy changed since the reader's version, or the reader's
//     own class did, the machines whose visibility flipped are found per
//     pair of classes (then, now), not per machine: the cost per reader is
//     the number of classes plus what it is sent, never the fleet squared.
//
// Full maps are built once per class and version and shared, like the
// unfiltered one.

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

// policyReply fills r for machine me relative to since, where changes[i:]
// are the log entries after since. h.mu is read-locked.
func (h *Hub) policyReply(r *Reply, me *entry, since uint64, i int) *Reply {
	id := me.peer.ID
	if since == 0 || since > h.version {
		return h.fullPolicyReply(r, me)
	}
	if h.nothingFor(me, since) {
		// The common case under a policy: other machines' changes. It is
		// asked before the size of the window: a reader of a quiet class
		// may be any number of changes behind (at 50,000 agents, thousands
		// of enrollments between two wake-ups) and still owed nothing.
		return r
	}
	if since < h.floor || len(h.changes)-i > maxPolicyDelta {
		// A reader far behind gets its class's full map: shared, and the
		// size of what it may see, where walking the changes it missed
		// would cost every such reader the size of the window.
		return h.fullPolicyReply(r, me)
	}
	// The policy and the reader as they were at since.
	polS, polChanged := h.pol, false
	first := map[string]*logEntry{}
	for k := range h.changes[i:] {
		le := &h.changes[i+k]
		if le.isDNS {
			continue // Self carries the records (Reply adds it)
		}
		if le.isPolicy {
			if !polChanged {
				if !le.known {
					return h.fullPolicyReply(r, me) // the policy before it is not known
				}
				polS, polChanged = le.polBefore, true
			}
			continue
		}
		if first[le.MachineID] == nil {
			first[le.MachineID] = le
		}
	}
	meS := me.attrs
	if le := first[id]; le != nil {
		if !le.known || le.before == nil {
			return h.fullPolicyReply(r, me) // new since, or its past is unknown
		}
		meS = *le.before
		r.self = h.selfOf(me)
	}
	if polChanged {
		r.self = h.selfOf(me) // the rules it enforces come with the policy
	}
	cNow, cThen := me.class, classUnder(polS, meS)
	for mid, le := range first {
		if mid == id {
			continue
		}
		e := h.machines[mid]
		now := e != nil && visible(h.pol, cNow, e.class)
		was := true // unknown past: a removal the agent may not need is harmless
		if le.known {
			was = le.before != nil && visible(polS, cThen, le.classUnder(polS))
		}
		switch {
		case now && !was:
			r.added = append(r.added, e.enc)
		case now && was:
			r.changed = append(r.changed, e.enc)
		case was:
			r.removed = append(r.removed, mid)
		}
	}
	// Unchanged machines move only when what decides visibility moved:
	// the policy or the reader's own class.
	if polChanged || (h.pol != nil && cThen != cNow) {
		for _, fl := range h.flips(polS, cThen, cNow) {
			for _, mid := range fl.members {
				if mid == id || first[mid] != nil {
					continue
				}
				if fl.now {
					r.added = append(r.added, h.machines[mid].enc)
				} else {
					r.removed = append(r.removed, mid)
				}
			}
		}
	}
	return r
}

// flip is a group of machines whose visibility to a reader flipped.
type flip struct {
	members []string
	now     bool // visible now (added), else removed
}

// flips returns, for readers whose class was cThen under polS and is
// cNow, the groups of machines that appeared or disappeared. Every reader
// of the same pair of classes shares the answer, so a policy change costs
// the number of class pairs times the number of classes, not the fleet
// times it. h.mu is read-locked.
func (h *Hub) flips(polS *policy.Policy, cThen, cNow policy.Class) []flip {
	j := h.jointClasses(polS)
	k := [2]policy.Class{cThen, cNow}
	h.classMu.Lock()
	fl, ok := j.flips[k]
	h.classMu.Unlock()
	if ok {
		return fl
	}
	fl = []flip{}
	for jk, members := range j.groups {
		was, now := visible(polS, cThen, jk[0]), visible(h.pol, cNow, jk[1])
		if was != now {
			fl = append(fl, flip{members: members, now: now})
		}
	}
	h.classMu.Lock()
	j.flips[k] = fl
	h.classMu.Unlock()
	return fl
}

// classUnder returns the machine's class before the change under p.
func (le *logEntry) classUnder(p *policy.Policy) policy.Class {
	if p == le.polAt {
		return le.beforeClass
	}
	return classUnder(p, *le.before)
}

// nothingFor reports, in constant time, that nothing since `since`
// concerns reader me: no policy change, no change of its own, no change of
// a machine its class sees or saw (h.lastRelevant). Conservative: a "no"
// may still end in an empty delta. h.mu is read-locked.
func (h *Hub) nothingFor(me *entry, since uint64) bool {
	return h.pol != nil && since >= h.loadedAt && h.polAt <= since && h.dnsAt <= since && me.gen <= since && h.lastRelevant[me.class] <= since
}

// jointIndex groups the machines by (class under an earlier policy, class
// now), for one map version.
type jointIndex struct {
	from, to *policy.Policy
	version  uint64
	groups   map[[2]policy.Class][]string
	flips    map[[2]policy.Class][]flip // by the reader's (class then, class now)
}

// jointClasses returns the machines grouped by their class under polS and
// under the current policy. h.mu is read-locked.
func (h *Hub) jointClasses(polS *policy.Policy) *jointIndex {
	h.classMu.Lock()
	defer h.classMu.Unlock()
	if j := h.joint; j != nil && j.from == polS && j.to == h.pol && j.version == h.version {
		return j
	}
	groups := map[[2]policy.Class][]string{}
	for _, mid := range h.order {
		e := h.machines[mid]
		k := [2]policy.Class{e.class, e.class}
		if polS != h.pol {
			k[0] = classUnder(polS, e.attrs)
		}
		groups[k] = append(groups[k], mid)
	}
	h.joint = &jointIndex{from: polS, to: h.pol, version: h.version, groups: groups, flips: map[[2]policy.Class][]flip{}}
	return h.joint
}

// fullPolicyReply makes r a full map of the machines me may see, shared
// with every machine of its class. h.mu is read-locked.
func (h *Hub) fullPolicyReply(r *Reply, me *entry) *Reply {
	r.Full = true
	r.self = h.selfOf(me)
	r.snap = h.classSnapshot(me.class)
	if k, found := slices.BinarySearch(r.snap.ids, me.peer.ID); found {
		r.skip = k
	} else {
		r.skip = -1
	}
	return r
}

// classSnapshot returns the full peer list of class c at the current
// version. h.mu is read-locked.
func (h *Hub) classSnapshot(c policy.Class) *snapshot {
	if h.pol == nil {
		return h.snapshot()
	}
	h.classMu.Lock()
	defer h.classMu.Unlock()
	if h.classVer != h.version || h.classSnp == nil {
		h.classSnp, h.classVer = map[policy.Class]*snapshot{}, h.version
	}
	if s := h.classSnp[c]; s != nil {
		return s
	}
	var ids []string
	for k, members := range h.byClass {
		if h.pol.Visible(c, k) {
			for id := range members {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	s := h.buildSnapshot(ids)
	h.classSnp[c] = s
	return s
}

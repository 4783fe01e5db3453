package netmap

// The delta path, top to bottom: what a machine's poll gets — nothing,
// a delta since its version, or a full map — with the access policy's
// classes deciding which peers it sees, and the shared encodings (whole-fleet
// and per-class snapshots) that keep a change O(fleet).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
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

// Map returns machine id's network map relative to since, decoded from the
// Reply the API would send. ok is false when the machine is not in the map
// (revoked or deleted). It is for tests and tools; the API streams Reply.
func (h *Hub) Map(id string, since uint64) (nm wire.NetMap, ok bool) {
	r, ok := h.Reply(id, since)
	if !ok {
		return nm, false
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		panic(err) // bytes.Buffer does not fail
	}
	if err := json.Unmarshal(buf.Bytes(), &nm); err != nil {
		panic(fmt.Sprintf("netmap: reply does not decode: %v\n%s", err, buf.Bytes()))
	}
	return nm, true
}

// Reply returns machine id's network map relative to since: unchanged, a
// delta, or a full map (see wire.NetMap), ready to write. ok is false when
// the machine is not in the map (revoked or deleted).
func (h *Hub) Reply(id string, since uint64) (r *Reply, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	me := h.machines[id]
	if me == nil {
		return nil, false
	}
	r = &Reply{Version: h.version}
	if since == h.version {
		r.Unchanged = true
		return r, true
	}
	i := sort.Search(len(h.changes), func(i int) bool { return h.changes[i].Version > since })
	if h.pol != nil || h.polAt > since {
		r = h.policyReply(r, me, since, i)
		if (since < h.loadedAt || since < h.dnsAt) && r.self == nil {
			h.setSelf(r, me) // see below
		}
		return r, true
	}
	// A delta naming more than half the fleet costs more to build and to
	// apply than the shared full map.
	if n := len(h.changes) - i; since == 0 || since < h.floor || since > h.version || (n > minFullDelta && n > len(h.machines)/2) {
		r.Full = true
		h.setSelf(r, me)
		r.snap = h.snapshot()
		if k, found := slices.BinarySearch(r.snap.ids, id); found {
			r.skip = k
		} else {
			r.skip = -1
		}
		return r, true
	}
	seen := make(map[string]bool, len(h.changes)-i)
	if since < h.loadedAt || since < h.dnsAt {
		// The reader's map predates this server process, whose settings
		// (DNS domain, STUN, relay, MTU) may differ, or the DNS records
		// changed: its Self, which carries them, comes again.
		h.setSelf(r, me)
	}
	for _, c := range h.changes[i:] {
		if c.isDNS || c.isPolicy {
			continue
		}
		if seen[c.MachineID] {
			continue
		}
		seen[c.MachineID] = true
		if c.MachineID == id {
			h.setSelf(r, me)
			continue
		}
		e := h.machines[c.MachineID]
		switch {
		case e == nil:
			r.removed = append(r.removed, c.MachineID)
		case e.addedAt > since:
			r.added = append(r.added, e.enc)
		default:
			r.changed = append(r.changed, e.enc)
		}
	}
	return r, true
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
	// A reader with no change of its own and no policy change since gets
	// what every reader of its class gets from since: computed once per
	// (class, since) at this version and shared. After a wake-up most held
	// polls ask from the same version, so a burst of changes costs the
	// classes that see them, not every reader.
	shared := h.polAt <= since && me.gen <= since
	var key deltaKey
	if shared {
		key = deltaKey{class: me.class, since: since}
		h.classMu.Lock()
		if h.deltaVer != h.version {
			h.deltas, h.deltaVer = map[deltaKey]*deltaLists{}, h.version
		}
		d := h.deltas[key]
		h.classMu.Unlock()
		if d != nil {
			r.added, r.changed, r.removed = d.added, d.changed, d.removed
			return r
		}
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
		h.setSelf(r, me)
	}
	if polChanged {
		h.setSelf(r, me) // the rules it enforces come with the policy
	}
	cNow, cThen := me.class, me.class
	if polChanged || first[id] != nil {
		cThen = classUnder(polS, meS)
	}
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
	if shared {
		// Clipped: a later append by a reader must not write into the
		// shared arrays.
		d := &deltaLists{added: slices.Clip(r.added), changed: slices.Clip(r.changed), removed: slices.Clip(r.removed)}
		h.classMu.Lock()
		if h.deltaVer == h.version {
			h.deltas[key] = d
		}
		h.classMu.Unlock()
	}
	return r
}

// deltaKey names the delta every reader of a class gets from a version
// (deltaLists), when neither it nor the policy changed since.
type deltaKey struct {
	class policy.Class
	since uint64
}

type deltaLists struct {
	added, changed [][]byte
	removed        []string
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

// fullPolicyReply makes r a full map of the machines me may see, shared
// with every machine of its class. h.mu is read-locked.
func (h *Hub) fullPolicyReply(r *Reply, me *entry) *Reply {
	r.Full = true
	h.setSelf(r, me)
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

// snapshot returns the full peer list at the current version, building it
// if no poll has asked for it yet. h.mu is read-locked.
func (h *Hub) snapshot() *snapshot {
	h.snapMu.Lock()
	defer h.snapMu.Unlock()
	if h.snap != nil && h.snap.version == h.version {
		return h.snap
	}
	h.snap = h.buildSnapshot(slices.Clone(h.order))
	return h.snap
}

// buildSnapshot encodes the peers ids (sorted) at the current version.
// h.mu is read-locked.
func (h *Hub) buildSnapshot(ids []string) *snapshot {
	s := &snapshot{version: h.version, ids: ids, offs: make([]int, len(ids)+1)}
	size := 0
	for _, id := range ids {
		size += len(h.machines[id].enc) + 1
	}
	s.buf = make([]byte, 0, size)
	for i, id := range ids {
		s.offs[i] = len(s.buf)
		s.buf = append(append(s.buf, h.machines[id].enc...), ',')
	}
	s.offs[len(ids)] = len(s.buf)
	return s
}

func (h *Hub) selfOf(e *entry) *wire.Self {
	s := &wire.Self{
		ID: e.peer.ID, Name: e.peer.Name, IPv4: e.peer.IPv4, IPv6: e.peer.IPv6,
		Prefix4: h.prefix4.String(), Prefix6: h.prefix6.String(),
		MTU: h.opts.MTU, Keepalive: h.opts.Keepalive, STUN: h.opts.STUN, Relay: h.opts.Relay, DNSDomain: h.opts.DNSDomain,
		DNSRecords: h.records, PublicKey: e.peer.PublicKey, RotateKeyBefore: e.rotateBefore,
	}
	if h.opts.ServerPins != nil {
		s.ServerPins = h.opts.ServerPins()
	}
	if h.pol != nil {
		s.Filter = &wire.Filter{Policy: h.polVer, Rules: h.pol.Inbound(e.class)}
		s.FlowLogs = h.pol.FlowLogsFor(e.attrs)
		s.SSH = h.pol.SSHFor(e.class, h.polVer)
	}
	s.Serves = routing.Serves(e.attrs.Routes, e.attrs.ExitNode)
	s.PeerRelay = h.relayIDs[e.peer.ID]
	s.Relays = h.relaysFor(e.peer.ID)
	return s
}

// setSelf puts machine e's Self in r. Its routes (up to the whole
// fleet's table) go already encoded, shared by the machines of a class:
// a route change resends every Self, and encoding 1,000 routes 10,000
// times was most of its cost.
func (h *Hub) setSelf(r *Reply, e *entry) {
	r.self = h.selfOf(e)
	r.routes = h.routesJSON(e)
}

// mapRecords is what agents get of the DNS records: no authors or times.
func mapRecords(rs []wire.DNSRecord) []wire.DNSRecord {
	out := make([]wire.DNSRecord, len(rs))
	for i, r := range rs {
		out[i] = wire.DNSRecord{Name: r.Name, Type: r.Type, Value: r.Value}
	}
	return out
}

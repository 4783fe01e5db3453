// Package netmap computes each machine's view of the overlay network and
// wakes the agents that long-poll for it.
//
// The hub keeps every active machine in memory together with a log of which
// machine changed at which network-map version. A poll with version V is
// answered with the machines that changed after V — a delta — so one change
// costs each of N pollers O(1) work, O(N) in all, instead of rebuilding N
// full maps of N peers (headscale's O(N²), its most common scaling complaint).
// A full map is sent on first contact, when V is older than the log, or
// when the delta would name more than half the fleet; full maps are encoded
// once per version and shared by every agent that gets one (see Reply).
//
// Wake-ups are coalesced: the first change after a quiet spell wakes the
// pollers at once (a revocation is not delayed), later ones are gathered
// and published together at most once per interval, which grows with the
// number of held polls. A mass enrollment therefore costs each poller a few
// answers a second instead of one per new machine.
//
// The database is the source of truth: after a commit the API calls Sync,
// and the hub's single syncer goroutine reads the committed changes in
// version order. Several server replicas each run a hub on one database.
package netmap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Source is the part of the store the hub reads.
type Source interface {
	LoadMapState(ctx context.Context, logLimit int) (store.MapState, error)
	ChangesSince(ctx context.Context, version uint64) ([]store.Change, []wire.Machine, error)
	PolicyVersion(ctx context.Context, v int64) (store.StoredPolicy, error)
	DNSRecords(ctx context.Context) ([]wire.DNSRecord, error)
}

// Options tune the hub.
type Options struct {
	LogSize   int    // change-log entries kept for deltas (default 8192)
	MTU       int    // suggested tunnel MTU (default 1280)
	Keepalive int    // persistent keepalive seconds (default 25)
	STUN      string // host:port of the STUN responder agents use ("" = none)
	DNSDomain string // the fleet's DNS domain, told to agents ("" = names off)
	// ServerPins, when set, returns the pins of the server's self-signed TLS
	// key and of its announced next key, for every agent's Self.
	ServerPins func() []string
	Relay      bool          // the server relays packets (wire.Self.Relay)
	Poll       time.Duration // how often to look for changes made elsewhere (replicas); 0 = only on Sync
	// Coalesce is the shortest spacing of wake-ups (default 100 ms);
	// CoalescePerPoll adds to it per held poll (default 100 µs, so 1 s at
	// 10,000 agents, about three times what answering them all costs).
	Coalesce        time.Duration
	CoalescePerPoll time.Duration
	// Polls counts the long-polls held now (presence.Tracker.Connected),
	// for the pacing above; nil counts none.
	Polls func() int
	// RouterUp reports whether a machine that carries routes is there (its
	// relay session is open); the primary of a prefix is one that is. Nil:
	// every router is.
	RouterUp func(id string) bool
	Logger   *slog.Logger
}

type entry struct {
	peer    wire.Peer
	gen     uint64 // version of the machine's last change
	enc     []byte // peer as JSON; replaced, never modified, so answers may share it
	addedAt uint64 // version at which it (re)appeared in the map
	attrs   policy.Machine
	class   policy.Class // under the hub's policy ("" without one)
	// rotateBefore is an admin's pending key-rotation request (nil: none).
	rotateBefore *time.Time
	// routes is what the machine advertises and admins decided (nil for
	// most machines); attrs.Routes and attrs.ExitNode are what of it is
	// in force under the hub's policy.
	routes  *wire.MachineRoutes
	created time.Time // enrollment: the oldest router of a prefix is its primary
}

// logEntry is one map version: which machine changed and what it was
// before, or which policy replaced which.
type logEntry struct {
	store.Change
	// known: before and polBefore are known (false for entries read from
	// the database at start, whose earlier state the hub never saw).
	known  bool
	before *policy.Machine // the machine before the change; nil: not in the map
	// beforeClass is before's class under polAt, the policy in force when
	// the change was applied (what a reader with no policy change since
	// compares with, without recomputing it).
	beforeClass policy.Class
	polAt       *policy.Policy
	isPolicy    bool
	polBefore   *policy.Policy // the policy before a policy change (nil: none)
	// isDNS: the fleet's DNS records changed; every reader gets its Self
	// (which carries them) again. Not a machine.
	isDNS bool
	at    time.Time // when this hub applied it (zero: read at start)
}

// ErrClosed is returned by Sync after the hub has stopped.
var ErrClosed = errors.New("netmap: hub closed")

// Hub holds the live network map.
type Hub struct {
	src  Source
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex
	version  uint64
	floor    uint64 // deltas are exact for since >= floor
	machines map[string]*entry
	order    []string      // IDs of machines, sorted
	changes  []logEntry    // ascending; versions > floor
	applied  chan struct{} // closed and replaced on every version move (Sync)
	wake     chan struct{} // closed and replaced when a version is published (Wait)
	pub      uint64        // the version pollers were last woken for
	lastWake time.Time
	timer    *time.Timer // pending coalesced wake-up, if any
	prefix4  netip.Prefix
	prefix6  netip.Prefix
	closed   bool

	snapMu sync.Mutex
	snap   *snapshot // full peer list at some version, built on demand

	// With an access policy, a machine's map holds only its peers under
	// it. Machines the policy cannot tell apart share a class; maps are
	// computed per class, not per machine.
	pol      *policy.Policy
	polVer   int64
	polAt    uint64           // map version of the last policy change in the log (0: none)
	records  []wire.DNSRecord // the fleet's DNS records, sent in Self
	dnsAt    uint64           // map version of the last change of them (0: none known)
	loadedAt uint64           // the version the hub started at: it knows nothing relevant before
	// lastRelevant is, per class, the last map version at which a machine
	// that machines of the class see (before or after the change) changed:
	// a held poll checks it instead of walking the changes.
	lastRelevant map[policy.Class]uint64
	byClass      map[policy.Class]map[string]bool // machine IDs by class
	classMu      sync.Mutex
	classSnp     map[policy.Class]*snapshot // full maps per class at classVer
	classVer     uint64
	deltas       map[deltaKey]*deltaLists // shared deltas at deltaVer (delta.go)
	deltaVer     uint64
	joint        *jointIndex

	// The fleet's routes in force (routing.Table), rebuilt when a router
	// or the policy changes; routers holds the IDs of machines that
	// advertise any. selfRoutes caches, per class, what Self.Routes
	// carries for machines that route nothing themselves.
	routes  *routing.Table
	routers map[string]bool
	// relayIDs are the machines the policy names in "relays"; relays
	// their entries for Self.Relays (relays.go).
	relayIDs   map[string]bool
	relays     []wire.PeerRelay
	selfRoutes map[policy.Class][]byte // encoded

	kick chan struct{}
}

// New loads the map from src.
func New(ctx context.Context, src Source, opts Options) (*Hub, error) {
	if opts.LogSize <= 0 {
		opts.LogSize = 8192
	}
	if opts.MTU == 0 {
		opts.MTU = 1280
	}
	if opts.Keepalive == 0 {
		opts.Keepalive = 25
	}
	if opts.Coalesce == 0 {
		opts.Coalesce = 100 * time.Millisecond
	}
	if opts.CoalescePerPoll == 0 {
		opts.CoalescePerPoll = 100 * time.Microsecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	st, err := src.LoadMapState(ctx, opts.LogSize)
	if err != nil {
		return nil, fmt.Errorf("netmap: load: %w", err)
	}
	h := &Hub{
		src: src, opts: opts, log: opts.Logger,
		version:  st.Version,
		floor:    st.Version,
		loadedAt: st.Version,
		machines: make(map[string]*entry, len(st.Machines)),
		applied:  make(chan struct{}),
		wake:     make(chan struct{}),
		pub:      st.Version,
		prefix4:  store.OverlayPrefix4(),
		prefix6:  st.ULA,
		kick:     make(chan struct{}, 1),
	}
	h.changes = make([]logEntry, 0, len(st.Log))
	for _, c := range st.Log {
		_, isPol := store.PolicyVersionOf(c)
		isDNS := store.IsDNSChange(c) || store.IsSelfChange(c) // both resend Self
		h.changes = append(h.changes, logEntry{Change: c, isPolicy: isPol, isDNS: isDNS})
		if isPol {
			h.polAt = c.Version
		}
		if isDNS {
			h.dnsAt = c.Version
		}
	}
	if len(st.Log) > 0 {
		h.floor = st.Log[0].Version - 1
	}
	h.pol, h.polVer = h.loadPolicy(st.Policy)
	h.records = mapRecords(st.DNS)
	h.routers = map[string]bool{}
	for _, m := range st.Machines {
		if m.State == wire.MachineActive {
			h.machines[m.ID] = h.newEntry(m, 0, 0)
			h.order = append(h.order, m.ID)
		}
	}
	sort.Strings(h.order)
	h.reclass(h.pol) // entries were made under h.pol: their postures stand
	h.rebuildRoutes()
	h.scanRelays()
	return h, nil
}

func (h *Hub) newEntry(m wire.Machine, gen, addedAt uint64) *entry {
	e := &entry{peer: peerOf(m), gen: gen, addedAt: addedAt, attrs: AttrsUnder(m, h.pol), rotateBefore: m.RotateKeyBefore, routes: m.Routes}
	if m.Routes != nil {
		e.created = m.CreatedAt
	}
	if m.Routes != nil {
		h.routers[m.ID] = true
	}
	if h.pol != nil {
		e.class = h.pol.ClassOf(e.attrs)
		e.peer.Postures = h.pol.Held(e.attrs)
		e.peer.Groups = h.pol.DirectoryGroups(e.attrs)
	}
	e.encode()
	return e
}

// encode sets e.enc from e.peer, as a new slice (answers may share the old).
func (e *entry) encode() {
	enc, err := json.Marshal(e.peer)
	if err != nil { // a struct of strings always encodes
		panic(fmt.Sprintf("netmap: encode peer: %v", err))
	}
	e.enc = enc
}

func peerOf(m wire.Machine) wire.Peer {
	eps := m.Endpoints
	if eps == nil {
		eps = []string{}
	}
	tags := m.Tags
	if tags == nil {
		tags = []string{}
	}
	return wire.Peer{
		ID: m.ID, Name: m.Name, PublicKey: m.PublicKey, IPv4: m.IPv4, IPv6: m.IPv6,
		AllowedIPs: []string{m.IPv4 + "/32", m.IPv6 + "/128"},
		Endpoints:  eps, Tags: tags,
	}
}

// Run applies committed changes until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	var poll <-chan time.Time
	if h.opts.Poll > 0 {
		t := time.NewTicker(h.opts.Poll)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			h.close()
			return
		case <-h.kick:
		case <-poll:
		}
		if err := h.catchUp(ctx); err != nil && ctx.Err() == nil {
			h.log.Error("netmap: read changes", "err", err)
			time.Sleep(100 * time.Millisecond)
			h.Kick()
		}
	}
}

// Kick asks the syncer to read new changes without waiting for them.
func (h *Hub) Kick() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Sync returns once the hub reflects version v (a version the caller has
// just committed), so that a response built afterwards includes it.
func (h *Hub) Sync(ctx context.Context, v uint64) error {
	for {
		h.mu.RLock()
		cur, wake, closed := h.version, h.applied, h.closed
		h.mu.RUnlock()
		if cur >= v {
			return nil
		}
		if closed {
			return ErrClosed
		}
		h.Kick()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (h *Hub) catchUp(ctx context.Context) error {
	h.mu.RLock()
	from := h.version
	h.mu.RUnlock()
	changes, machines, err := h.src.ChangesSince(ctx, from)
	if err != nil || len(changes) == 0 {
		return err
	}
	byID := make(map[string]wire.Machine, len(machines))
	for _, m := range machines {
		byID[m.ID] = m
	}
	// Policies and DNS records are read before the lock is taken.
	var records []wire.DNSRecord
	for _, c := range changes {
		if store.IsDNSChange(c) && c.Version > from {
			if records, err = h.src.DNSRecords(ctx); err != nil {
				return err
			}
			break
		}
	}
	policies := map[int64]*policy.Policy{}
	for _, c := range changes {
		if v, ok := store.PolicyVersionOf(c); ok && c.Version > from {
			sp, err := h.src.PolicyVersion(ctx, v)
			if err != nil {
				return err
			}
			policies[v], _ = h.loadPolicy(sp)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		if c.Version <= h.version {
			continue
		}
		le := logEntry{Change: c, known: true, at: time.Now()}
		if store.IsDNSChange(c) {
			le.isDNS = true
			h.records, h.dnsAt = mapRecords(records), c.Version
		} else if store.IsSelfChange(c) {
			le.isDNS = true // what Self carries changed: every reader gets it again
			h.dnsAt = c.Version
			h.rebuildRoutes() // a router came or went (RoutesStale)
		} else if v, ok := store.PolicyVersionOf(c); ok {
			le.isPolicy, le.polBefore = true, h.pol
			h.pol, h.polVer, h.polAt = policies[v], v, c.Version
			if h.reapprove() {
				// The autoApprovers moved a route: machines' classes
				// changed without a change of their own, which deltas
				// cannot describe. Everyone behind gets a full map.
				h.floor = c.Version
			}
			if h.reclass(le.polBefore) {
				// A machine's postures or directory groups (which its
				// peers' filters check) changed with the policy, not
				// with the machine:
				// deltas cannot say so. Everyone behind gets a full map.
				h.floor = c.Version
			}
			h.selfRoutes = nil
			if h.rebuildRoutes() {
				h.dnsAt = c.Version
			}
			if h.scanRelays() {
				h.dnsAt = c.Version // every Self's relays
			}
		} else {
			old := h.machines[c.MachineID]
			le.polAt = h.pol
			if old != nil {
				before := old.attrs
				le.before, le.beforeClass = &before, old.class
			}
			if m, ok := byID[c.MachineID]; ok && m.State == wire.MachineActive {
				e := h.newEntry(m, c.Version, c.Version)
				if old != nil {
					e.addedAt = old.addedAt
					h.dropClass(m.ID, old.class)
				} else {
					i, _ := slices.BinarySearch(h.order, m.ID)
					h.order = slices.Insert(h.order, i, m.ID)
				}
				h.machines[m.ID] = e
				h.addClass(m.ID, e.class)
				h.noteRelevant(old, e, c.Version)
			} else if old != nil {
				delete(h.machines, c.MachineID)
				h.dropClass(c.MachineID, old.class)
				h.noteRelevant(old, nil, c.Version)
				if i, found := slices.BinarySearch(h.order, c.MachineID); found {
					h.order = slices.Delete(h.order, i, i+1)
				}
			}
			if h.routers[c.MachineID] && h.rebuildRoutes() {
				// Which router carries what moved: every machine's Self
				// (its routes) comes again.
				h.dnsAt = c.Version
			}
			if h.noteRelay(c.MachineID) {
				h.dnsAt = c.Version // a relay came, went or moved
			}
		}
		h.changes = append(h.changes, le)
		h.version = c.Version
	}
	if len(h.changes) > 2*h.opts.LogSize {
		drop := len(h.changes) - h.opts.LogSize
		// Never lower: a policy change may have raised it past the cut.
		h.floor = max(h.floor, h.changes[drop-1].Version)
		h.changes = append([]logEntry(nil), h.changes[drop:]...)
	}
	close(h.applied)
	h.applied = make(chan struct{})
	h.schedule()
	return nil
}

// schedule wakes the pollers now if the last wake-up was long enough ago,
// else makes sure one follows when it is. h.mu is held.
func (h *Hub) schedule() {
	if h.timer != nil || h.closed {
		return // the pending wake-up will publish this version too
	}
	polls := 0
	if h.opts.Polls != nil {
		polls = h.opts.Polls()
	}
	spacing := h.opts.Coalesce + time.Duration(polls)*h.opts.CoalescePerPoll
	if wait := spacing - time.Since(h.lastWake); wait > 0 {
		h.timer = time.AfterFunc(wait, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.timer = nil
			if !h.closed {
				h.publish()
			}
		})
		return
	}
	h.publish()
}

// publish wakes every waiting poller for the current version. h.mu is held.
func (h *Hub) publish() {
	h.pub = h.version
	h.lastWake = time.Now()
	close(h.wake)
	h.wake = make(chan struct{})
}

func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		if h.timer != nil {
			h.timer.Stop()
			h.timer = nil
		}
		close(h.applied)
		close(h.wake)
	}
}

// Policy returns the compiled access policy the hub applies and its
// version (nil: none).
func (h *Hub) Policy() (*policy.Policy, int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.pol, h.polVer
}

// AppliedAfter returns when this hub applied the first change after
// version since (zero when it did not see it applied: read at start, or
// no such change).
func (h *Hub) AppliedAfter(since uint64) time.Time {
	h.mu.RLock()
	defer h.mu.RUnlock()
	i := sort.Search(len(h.changes), func(i int) bool { return h.changes[i].Version > since })
	if i == len(h.changes) {
		return time.Time{}
	}
	return h.changes[i].at
}

// DNSDomain is the fleet's DNS domain ("" when names are off).
func (h *Hub) DNSDomain() string { return h.opts.DNSDomain }

// Version returns the current network-map version.
func (h *Hub) Version() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.version
}

// Active reports whether the machine is in the map (enrolled, not revoked).
func (h *Hub) Active(id string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.machines[id] != nil
}

// Generation returns the map version at which machine id last changed
// (0 if not since the hub started) and whether it is in the map. Anything
// cached about the machine is current while its generation is unchanged.
func (h *Hub) Generation(id string) (gen uint64, active bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if e := h.machines[id]; e != nil {
		return e.gen, true
	}
	return 0, false
}

// Peer returns machine id as its peers see it, and whether it is in the
// map (enrolled, not revoked).
func (h *Hub) Peer(id string) (wire.Peer, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if e := h.machines[id]; e != nil {
		return e.peer, true
	}
	return wire.Peer{}, false
}

// Applied returns a channel that is closed the next time the map moves
// (a change from this or another replica is applied) or the hub closes.
// Unlike Wait it is not coalesced: watchers that must act at once on a
// revocation (the relay) use it.
func (h *Hub) Applied() <-chan struct{} {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.applied
}

// Closed reports whether the hub has closed (the server is stopping).
func (h *Hub) Closed() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.closed
}

// Len returns the number of active machines.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.machines)
}

// Wait blocks while machine id is up to date with what has been published:
// until a wake-up publishes a version newer than since, the machine leaves
// the map, ctx ends, or the hub closes. It returns at once when since is
// behind (or, after a database reset, ahead of) the map. It returns the
// published version.
func (h *Hub) Wait(ctx context.Context, id string, since uint64) uint64 {
	for {
		h.mu.RLock()
		pub, cur, wake, closed, active := h.pub, h.version, h.wake, h.closed, h.machines[id] != nil
		h.mu.RUnlock()
		if pub > since || since > cur || closed || !active {
			return pub
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return pub
		}
	}
}

// minFullDelta is the number of changes below which a delta is always sent.
const minFullDelta = 32

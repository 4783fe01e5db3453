// Package netmap computes each machine's view of the overlay network and
// wakes the agents that long-poll for it.
//
// The hub keeps every active machine in memory together with a log of which
// machine changed at which network-map version. A poll with version V is
// answered with the machines that changed after V — a delta — so one change
// costs each of N pollers O(1) work, O(N) in all, instead of rebuilding N
// full maps of N peers (headscale's O(N²), its most common scaling complaint).
// A full map is sent on first contact, or when V is older than the log.
//
// The database is the source of truth: after a commit the API calls Sync,
// and the hub's single syncer goroutine reads the committed changes in
// version order. Several server replicas each run a hub on one database.
package netmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Source is the part of the store the hub reads.
type Source interface {
	LoadMapState(ctx context.Context, logLimit int) (store.MapState, error)
	ChangesSince(ctx context.Context, version uint64) ([]store.Change, []wire.Machine, error)
	TouchLastSeen(ctx context.Context, seen map[string]time.Time) error
}

// Options tune the hub.
type Options struct {
	LogSize   int           // change-log entries kept for deltas (default 8192)
	MTU       int           // suggested tunnel MTU (default 1280)
	Keepalive int           // persistent keepalive seconds (default 25)
	Poll      time.Duration // how often to look for changes made elsewhere (replicas); 0 = only on Sync
	Logger    *slog.Logger
}

type entry struct {
	peer    wire.Peer
	addedAt uint64 // version at which it (re)appeared in the map
}

// ErrClosed is returned by Sync after the hub has stopped.
var ErrClosed = errors.New("netmap: hub closed")

// Hub holds the live network map.
type Hub struct {
	src  Source
	opts Options
	log  *slog.Logger

	mu        sync.RWMutex
	version   uint64
	floor     uint64 // deltas are exact for since >= floor
	machines  map[string]*entry
	changes   []store.Change // ascending; versions > floor
	wake      chan struct{}  // closed and replaced on every version move
	prefix4   netip.Prefix
	prefix6   netip.Prefix
	connected map[string]int
	nconn     int
	closed    bool

	seenMu sync.Mutex
	seen   map[string]time.Time

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
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	st, err := src.LoadMapState(ctx, opts.LogSize)
	if err != nil {
		return nil, fmt.Errorf("netmap: load: %w", err)
	}
	h := &Hub{
		src: src, opts: opts, log: opts.Logger,
		version:   st.Version,
		floor:     st.Version,
		machines:  make(map[string]*entry, len(st.Machines)),
		changes:   st.Log,
		wake:      make(chan struct{}),
		prefix4:   store.OverlayPrefix4(),
		prefix6:   st.ULA,
		connected: map[string]int{},
		seen:      map[string]time.Time{},
		kick:      make(chan struct{}, 1),
	}
	if len(st.Log) > 0 {
		h.floor = st.Log[0].Version - 1
	}
	for _, m := range st.Machines {
		if m.State == wire.MachineActive {
			h.machines[m.ID] = &entry{peer: peerOf(m), addedAt: 0}
		}
	}
	return h, nil
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

// Run applies committed changes until ctx ends, and flushes last-seen
// times every flushEvery. It returns after a final flush.
func (h *Hub) Run(ctx context.Context, flushEvery time.Duration) {
	var poll <-chan time.Time
	if h.opts.Poll > 0 {
		t := time.NewTicker(h.opts.Poll)
		defer t.Stop()
		poll = t.C
	}
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			h.close()
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			h.flushSeen(fctx)
			cancel()
			return
		case <-h.kick:
		case <-poll:
		case <-flush.C:
			h.flushSeen(ctx)
			continue
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
		cur, wake, closed := h.version, h.wake, h.closed
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
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		if c.Version <= h.version {
			continue
		}
		if m, ok := byID[c.MachineID]; ok && m.State == wire.MachineActive {
			if e := h.machines[m.ID]; e != nil {
				e.peer = peerOf(m)
			} else {
				h.machines[m.ID] = &entry{peer: peerOf(m), addedAt: c.Version}
			}
		} else {
			delete(h.machines, c.MachineID)
		}
		h.changes = append(h.changes, c)
		h.version = c.Version
	}
	if len(h.changes) > 2*h.opts.LogSize {
		drop := len(h.changes) - h.opts.LogSize
		h.floor = h.changes[drop-1].Version
		h.changes = append([]store.Change(nil), h.changes[drop:]...)
	}
	close(h.wake)
	h.wake = make(chan struct{})
	return nil
}

func (h *Hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.wake)
	}
}

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

// Len returns the number of active machines.
func (h *Hub) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.machines)
}

// Wait blocks until the map version differs from since, the machine leaves
// the map, ctx ends, or the hub closes. It returns the current version.
func (h *Hub) Wait(ctx context.Context, id string, since uint64) uint64 {
	for {
		h.mu.RLock()
		cur, wake, closed, active := h.version, h.wake, h.closed, h.machines[id] != nil
		h.mu.RUnlock()
		if cur != since || closed || !active {
			return cur
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return cur
		}
	}
}

// Map returns machine id's network map relative to since: unchanged, a
// delta, or a full map (see wire.NetMap). ok is false when the machine is
// not in the map (revoked or deleted).
func (h *Hub) Map(id string, since uint64) (nm wire.NetMap, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	me := h.machines[id]
	if me == nil {
		return wire.NetMap{}, false
	}
	nm.Version = h.version
	switch {
	case since == h.version:
		nm.Unchanged = true
		return nm, true
	case since == 0 || since < h.floor || since > h.version:
		nm.Full = true
		nm.Self = h.selfOf(me)
		nm.Peers = make([]wire.Peer, 0, len(h.machines))
		for pid, e := range h.machines {
			if pid != id {
				nm.Peers = append(nm.Peers, e.peer)
			}
		}
		sort.Slice(nm.Peers, func(i, j int) bool { return nm.Peers[i].ID < nm.Peers[j].ID })
		return nm, true
	}
	i := sort.Search(len(h.changes), func(i int) bool { return h.changes[i].Version > since })
	seen := make(map[string]bool, len(h.changes)-i)
	for _, c := range h.changes[i:] {
		if seen[c.MachineID] {
			continue
		}
		seen[c.MachineID] = true
		if c.MachineID == id {
			nm.Self = h.selfOf(me)
			continue
		}
		e := h.machines[c.MachineID]
		switch {
		case e == nil:
			nm.Removed = append(nm.Removed, c.MachineID)
		case e.addedAt > since:
			nm.Added = append(nm.Added, e.peer)
		default:
			nm.Changed = append(nm.Changed, e.peer)
		}
	}
	return nm, true
}

func (h *Hub) selfOf(e *entry) *wire.Self {
	return &wire.Self{
		ID: e.peer.ID, Name: e.peer.Name, IPv4: e.peer.IPv4, IPv6: e.peer.IPv6,
		Prefix4: h.prefix4.String(), Prefix6: h.prefix6.String(),
		MTU: h.opts.MTU, Keepalive: h.opts.Keepalive,
	}
}

// Connect records a live long-poll from machine id; call the returned
// function when it ends.
func (h *Hub) Connect(id string) (release func()) {
	h.mu.Lock()
	h.connected[id]++
	h.nconn++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		if h.connected[id]--; h.connected[id] <= 0 {
			delete(h.connected, id)
		}
		h.nconn--
		h.mu.Unlock()
	}
}

// Connected returns the number of open long-polls.
func (h *Hub) Connected() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.nconn
}

// IsConnected reports whether machine id holds a long-poll right now.
func (h *Hub) IsConnected(id string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.connected[id] > 0
}

// Seen notes that machine id was heard from at t. Times are written to the
// database in batches by Run, so polls cost no writes.
func (h *Hub) Seen(id string, t time.Time) {
	h.seenMu.Lock()
	h.seen[id] = t
	h.seenMu.Unlock()
}

func (h *Hub) flushSeen(ctx context.Context) {
	h.seenMu.Lock()
	batch := h.seen
	h.seen = make(map[string]time.Time, len(batch))
	h.seenMu.Unlock()
	if err := h.src.TouchLastSeen(ctx, batch); err != nil {
		h.log.Warn("netmap: record last-seen times", "machines", len(batch), "err", err)
	}
}

// FlushSeen writes pending last-seen times now (tests, shutdown).
func (h *Hub) FlushSeen(ctx context.Context) { h.flushSeen(ctx) }

// Online reports whether an active machine is online: it holds a long-poll
// now, or was heard from (poll or health report) in the last two minutes.
func (h *Hub) Online(m wire.Machine, now time.Time) bool {
	if m.State != wire.MachineActive {
		return false
	}
	return h.IsConnected(m.ID) || (m.LastSeen != nil && now.Sub(*m.LastSeen) < 2*time.Minute)
}

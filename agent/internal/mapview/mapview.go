// Package mapview holds the agent's one copy of the network map.
//
// The engine applies every map the server sends to it (and caches it,
// answers names from it, reports its version); the tunnel reads the same
// copy from its own goroutines (a lazy peer's activation, the handshakes
// after a key swap, `status`). Before this package each kept its own
// wire.View, merged by the same rule but twice, and a fleet of 5,000
// peers cost the agent two maps.
//
// Writes come from one goroutine at a time (the engine, under its own
// lock); reads may come from any. A reader must not call back into
// anything that applies a map while it holds the view.
package mapview

import (
	"sync"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// View is the network map the agent holds, safe for one writer and many
// readers. The zero value is an empty view.
type View struct {
	mu sync.RWMutex
	v  wire.View
}

// Apply merges nm into the view by the protocol's rule (wire.View.Apply)
// and returns the peers it names as they were before it: every peer for a
// full map (or the first map), only the added, changed and removed ones
// for a delta, so that whoever brings a device in line pays for what the
// map changes rather than for the size of the fleet. whole says which.
// A malformed map changes nothing.
func (m *View) Apply(nm wire.NetMap) (before map[string]wire.Peer, whole bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	whole = nm.Full || m.v.Peers == nil
	if nm.Unchanged {
		whole = false
	}
	switch {
	case nm.Unchanged:
	case whole:
		before = m.v.Peers // Apply replaces the map; the old one stays as it was
	default:
		before = Named(m.v.Peers, nm)
	}
	if err := m.v.Apply(nm); err != nil {
		return nil, false, err
	}
	return before, whole, nil
}

// Read calls f with the view held for reading; f must not keep v or its
// peer map after it returns.
func (m *View) Read(f func(v *wire.View)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	f(&m.v)
}

// Self returns the machine's own settings from the last map that carried
// them, or nil before the first map.
func (m *View) Self() *wire.Self {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.v.Self
}

// Version returns the version of the last map applied.
func (m *View) Version() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.v.Version
}

// Len returns the number of peers.
func (m *View) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.v.Peers)
}

// Peer returns one peer by ID.
func (m *View) Peer(id string) (wire.Peer, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	p, ok := m.v.Peers[id]
	return p, ok
}

// Full renders the view as a full map (for the cache, or a new device).
func (m *View) Full() wire.NetMap {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.v.Full()
}

// Named returns the peers of peers that a delta names (added, changed or
// removed).
func Named(peers map[string]wire.Peer, nm wire.NetMap) map[string]wire.Peer {
	out := make(map[string]wire.Peer, len(nm.Added)+len(nm.Changed)+len(nm.Removed))
	note := func(id string) {
		if p, ok := peers[id]; ok {
			out[id] = p
		}
	}
	for _, p := range nm.Added {
		note(p.ID)
	}
	for _, p := range nm.Changed {
		note(p.ID)
	}
	for _, id := range nm.Removed {
		note(id)
	}
	return out
}

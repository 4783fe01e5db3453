package wire

import (
	"errors"
	"sort"
)

// View is what an agent knows of the network map: the version it has, its
// own settings and its peers by ID. Applying every map the server sends,
// in order, to a View yields exactly the server's full map for that
// version; the agent's engine, its tunnel and the server's property test
// all merge with Apply, so the rule exists once.
type View struct {
	Version uint64
	Self    *Self
	Peers   map[string]Peer // by peer ID
}

// ErrMalformedMap is returned by Apply for a map that breaks the protocol.
var ErrMalformedMap = errors.New("wire: malformed network map")

// Apply merges nm into v:
//   - Unchanged moves only the version (and must carry no peers);
//   - Full replaces the peer set: peers absent from it are gone ("zero
//     peers" is a full map with none, never confused with "no change");
//   - otherwise Added and Changed are upserted, then Removed are deleted;
//     peers a delta does not name are left as they are.
//
// A delta applied to a View that never saw a full map starts from an empty
// set, as it would after a fresh enrollment.
func (v *View) Apply(nm NetMap) error {
	if nm.Unchanged {
		if nm.Full || len(nm.Peers)+len(nm.Added)+len(nm.Changed)+len(nm.Removed) != 0 {
			return ErrMalformedMap
		}
		v.Version = nm.Version
		return nil
	}
	if nm.Full || v.Peers == nil {
		v.Peers = make(map[string]Peer, len(nm.Peers))
	}
	for _, p := range nm.Peers {
		v.Peers[p.ID] = p
	}
	for _, p := range nm.Added {
		v.Peers[p.ID] = p
	}
	for _, p := range nm.Changed {
		v.Peers[p.ID] = p
	}
	for _, id := range nm.Removed {
		delete(v.Peers, id)
	}
	if nm.Self != nil {
		v.Self = nm.Self
	}
	v.Version = nm.Version
	return nil
}

// Clone returns a copy of v that Apply can change without touching v.
func (v *View) Clone() View {
	c := View{Version: v.Version, Self: v.Self, Peers: make(map[string]Peer, len(v.Peers))}
	for id, p := range v.Peers {
		c.Peers[id] = p
	}
	return c
}

// Full renders v as a full map (peers sorted by ID), e.g. for a cache.
func (v *View) Full() NetMap {
	nm := NetMap{Version: v.Version, Full: true, Self: v.Self, Peers: make([]Peer, 0, len(v.Peers))}
	for _, p := range v.Peers {
		nm.Peers = append(nm.Peers, p)
	}
	sort.Slice(nm.Peers, func(i, j int) bool { return nm.Peers[i].ID < nm.Peers[j].ID })
	return nm
}

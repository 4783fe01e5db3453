// Package routes puts the fleet's subnet routes and exit nodes into
// effect on this machine: which peer each route goes through (Plan), the
// operating system's routes for them, and, on a router, IP forwarding and
// source NAT (Manager) — recorded before anything changes, so that down,
// stop, logout and a start after a crash remove exactly what was added.
package routes

import (
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Options are the machine owner's choices about using routes.
type Options struct {
	// Accept installs a route even where the machine already has one for
	// the same prefix (its own LAN, say); by default that route wins.
	Accept bool
	// ExitNode names the peer (name, ID or overlay address) to send the
	// internet through; "" uses none.
	ExitNode string
	// AllowLAN keeps the machine's local networks local while it uses an
	// exit node.
	AllowLAN bool
}

// Route is one route of the map as this machine uses it.
type Route struct {
	Prefix netip.Prefix `json:"prefix"`
	// Via is the peer the route goes through now ("" when not installed);
	// Standby are the others that carry it, in failover order.
	Via     string   `json:"via,omitempty"`
	ViaName string   `json:"via_name,omitempty"`
	Standby []string `json:"standby,omitempty"`
	Exit    bool     `json:"exit_node,omitempty"`
	// Skipped says why a route is not installed ("" when it is).
	Skipped string `json:"skipped,omitempty"`
	// Failover: the primary did not answer and a standby carries it.
	Failover bool `json:"failover,omitempty"`
}

// Env is what a plan is made against.
type Env struct {
	Peer func(id string) (wire.Peer, bool)
	// Down reports that a peer stopped answering (the client's own view,
	// ahead of the server's); nil: every peer is up.
	Down func(id string) bool
	// Existing reports that the OS already routes this exact prefix
	// elsewhere (not through the tunnel).
	Existing func(netip.Prefix) bool
	// Reserved are addresses that must never go into the tunnel: the
	// server's, the relay's. A route containing one is skipped.
	Reserved []netip.Addr
}

// Plan decides, for every route the map lets this machine use, whether
// to install it and through which peer: the primary, or the first
// standby that answers when the primary does not.
func Plan(self *wire.Self, env Env, o Options) []Route {
	if self == nil {
		return nil
	}
	var out []Route
	for _, sr := range self.Routes {
		p, err := netip.ParsePrefix(sr.Prefix)
		if err != nil || len(sr.Via) == 0 {
			continue
		}
		r := Route{Prefix: p, Exit: p.Bits() == 0}
		via := sr.Via
		if r.Exit {
			// An exit node is chosen by the owner, not by the server.
			via = nil
			if o.ExitNode != "" {
				for _, id := range sr.Via {
					if peer, ok := env.Peer(id); ok && names(peer, o.ExitNode) {
						via = []string{id}
					}
				}
			}
			if via == nil {
				r.Skipped = "not the chosen exit node"
				if o.ExitNode == "" {
					r.Skipped = "no exit node chosen (--exit-node)"
				}
				r.Standby = sr.Via
				out = append(out, r)
				continue
			}
		}
		pick := 0
		if env.Down != nil {
			for i, id := range via {
				if !env.Down(id) {
					pick = i
					break
				}
			}
		}
		r.Via, r.Failover = via[pick], pick > 0
		r.Standby = slices.Concat(via[:pick], via[pick+1:])
		if peer, ok := env.Peer(r.Via); ok {
			r.ViaName = peer.Name
		}
		switch {
		case containsAny(p, env.Reserved) && !r.Exit:
			r.Skipped = "it contains the server's address"
		case !r.Exit && !o.Accept && env.Existing != nil && env.Existing(p):
			r.Skipped = "this machine already routes it (--accept-routes to override)"
		}
		if r.Skipped != "" {
			r.Via, r.ViaName, r.Failover, r.Standby = "", "", false, sr.Via
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

func names(p wire.Peer, s string) bool {
	return s == p.Name || s == p.ID || s == p.IPv4 || s == p.IPv6
}

func containsAny(p netip.Prefix, as []netip.Addr) bool {
	for _, a := range as {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ExitVia returns the peer carrying the internet, if one is used.
func ExitVia(rs []Route) string {
	for _, r := range rs {
		if r.Exit && r.Via != "" && r.Skipped == "" {
			return r.Via
		}
	}
	return ""
}

// ByPeer groups the installed routes by the peer they go through: what
// each peer's WireGuard allowed IPs gain.
func ByPeer(rs []Route) map[string][]netip.Prefix {
	out := map[string][]netip.Prefix{}
	for _, r := range rs {
		if r.Via != "" && r.Skipped == "" {
			out[r.Via] = append(out[r.Via], r.Prefix)
		}
	}
	return out
}

// Installed returns the subnets to route into the tunnel; an exit node's
// default routes are not among them (Manager.Exit routes by policy).
func Installed(rs []Route) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range rs {
		if r.Via != "" && r.Skipped == "" && !r.Exit {
			out = append(out, r.Prefix)
		}
	}
	return out
}

// Resolvers returns the DNS servers a resolv.conf names, other than
// loopback ones and the fleet resolver on this machine's overlay
// address: an exit node's user keeps reaching them directly.
func Resolvers(path string, self *wire.Self) []netip.Addr {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsLoopback() || self != nil && (a.String() == self.IPv4 || a.String() == self.IPv6) {
			continue
		}
		if !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

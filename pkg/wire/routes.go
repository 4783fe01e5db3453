package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
)

// Subnet routes and exit nodes: a machine advertises subnets beside it
// (and, as an exit node, the internet); nothing is routed until an admin
// or the policy's autoApprovers approve it.
const (
	// PathAgentRoutes is where an agent says what it advertises: POST a
	// RoutesAdvert (the whole set, each time).
	PathAgentRoutes = "/api/v1/agent/routes"
	// PathRoutes lists every advertised route (GET: RoutesResponse); POST
	// PathRoutes/{machine}/approve or /reject with a RouteDecision.
	PathRoutes = "/api/v1/routes"
)

// MaxRoutes is the most subnets one machine may advertise.
const MaxRoutes = 256

// The default routes an exit node advertises.
var (
	ExitRoute4 = netip.MustParsePrefix("0.0.0.0/0")
	ExitRoute6 = netip.MustParsePrefix("::/0")
)

// Route states.
const (
	RoutePending      = "pending"       // advertised, waiting for an admin
	RouteApproved     = "approved"      // an admin approved it
	RouteAutoApproved = "auto-approved" // the policy's autoApprovers approve it
	RouteRejected     = "rejected"      // an admin rejected it
)

// RoutesAdvert is what an agent advertises: subnets, and whether it
// offers itself as an exit node.
type RoutesAdvert struct {
	Routes   []string `json:"routes"`
	ExitNode bool     `json:"exit_node,omitempty"`
	// Failing, when set, is why the router's own health check of its
	// routes fails (`--route-check`): while it fails, the router is a
	// standby only, and clients use another where there is one.
	Failing string `json:"failing,omitempty"`
}

// MaxFailing is the longest route-check failure reason kept.
const MaxFailing = 200

// MachineRoutes is what a machine advertises and what admins decided of
// it. An exit node advertises 0.0.0.0/0 and ::/0; deciding one decides
// both.
type MachineRoutes struct {
	Advertised []string `json:"advertised"`
	Approved   []string `json:"approved,omitempty"`
	Rejected   []string `json:"rejected,omitempty"`
	// Failing is why the router's route check fails ("": it passes, or
	// there is none).
	Failing string `json:"failing,omitempty"`
}

// Route is one advertised route as the admin API lists it.
type Route struct {
	Machine     string `json:"machine"` // ID
	MachineName string `json:"machine_name"`
	Prefix      string `json:"prefix"`
	ExitNode    bool   `json:"exit_node,omitempty"` // a default route: the machine is an exit node
	State       string `json:"state"`
	// Primary: this machine carries the prefix for the fleet now; other
	// approved routers of the same prefix are standbys.
	Primary bool `json:"primary"`
	Online  bool `json:"online"`
	// Failing is why the router's own check of its routes fails.
	Failing string `json:"failing,omitempty"`
	// Unreachable: the policy lets no machine use this route.
	Unreachable bool `json:"unreachable,omitempty"`
}

// RoutesResponse lists advertised routes.
type RoutesResponse struct {
	Routes []Route `json:"routes"`
}

// RouteDecision approves or rejects some of a machine's routes: Routes
// (prefixes it advertises; none: all of them) and ExitNode (its default
// routes).
type RouteDecision struct {
	Routes   []string `json:"routes,omitempty"`
	ExitNode bool     `json:"exit_node,omitempty"`
}

// SelfRoute is a route a machine may use: the prefix and the peers that
// carry it, the primary first, then the standbys in the order to fail
// over to.
type SelfRoute struct {
	Prefix string   `json:"prefix"`
	Via    []string `json:"via"` // peer IDs
}

// ValidateRoutes checks an advertisement: every subnet a range without
// host bits, unicast, not link-local or loopback, not a default route
// (an exit node says ExitNode), none overlapping another; it returns the
// set sorted, with an exit node's default routes added.
func ValidateRoutes(a RoutesAdvert) ([]string, error) {
	if len(a.Routes) > MaxRoutes {
		return nil, Errorf(CodeInvalidRoute, "%d routes; a machine advertises at most %d", len(a.Routes), MaxRoutes)
	}
	var ps []netip.Prefix
	for _, s := range a.Routes {
		p, err := ParseRoute(s)
		if err != nil {
			return nil, err
		}
		if p.Bits() == 0 {
			return nil, Errorf(CodeInvalidRoute, "route %s is a default route: advertise an exit node instead (--advertise-exit-node)", p)
		}
		for _, q := range ps {
			if q.Overlaps(p) {
				return nil, Errorf(CodeInvalidRoute, "routes %s and %s overlap: advertise the larger one, or split them", q, p)
			}
		}
		ps = append(ps, p)
	}
	if a.ExitNode {
		ps = append(ps, ExitRoute4, ExitRoute6)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	sort.Strings(out)
	return out, nil
}

// ParseRoute parses one route: a range without host bits that can be
// routed (not multicast, link-local, loopback or unspecified).
func ParseRoute(s string) (netip.Prefix, error) {
	if len(s) > 64 {
		return netip.Prefix{}, Errorf(CodeInvalidRoute, "route %q is too long to be a range", s[:32]+"…")
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, Errorf(CodeInvalidRoute, "route %q is not a range like 10.20.0.0/16 or fd00:20::/64", s)
	}
	if p.Addr().Zone() != "" || p.Addr().Is4In6() {
		return p, Errorf(CodeInvalidRoute, "route %q: write an IPv4 range plainly and an IPv6 one without a zone", s)
	}
	if p.Masked() != p {
		return p, Errorf(CodeInvalidRoute, "route %s has host bits set: the range is %s", p, p.Masked())
	}
	a := p.Addr()
	switch {
	case p.Bits() == 0:
		return p, nil // a default route: ValidateRoutes decides
	case a.IsMulticast() || a.IsLinkLocalMulticast():
		return p, Errorf(CodeInvalidRoute, "route %s is multicast", p)
	case a.IsLinkLocalUnicast() || linkLocal4.Overlaps(p) || linkLocal6.Overlaps(p):
		return p, Errorf(CodeInvalidRoute, "route %s is link-local: it never leaves its own link", p)
	case a.IsLoopback() || loopback4.Overlaps(p):
		return p, Errorf(CodeInvalidRoute, "route %s is loopback", p)
	case a.IsUnspecified():
		return p, Errorf(CodeInvalidRoute, "route %s is unspecified", p)
	}
	return p, nil
}

var (
	linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")
	linkLocal6 = netip.MustParsePrefix("fe80::/10")
	loopback4  = netip.MustParsePrefix("127.0.0.0/8")
)

// IsExitRoute reports whether a route is one of an exit node's default
// routes.
func IsExitRoute(s string) bool { return s == ExitRoute4.String() || s == ExitRoute6.String() }

// Decide applies an admin's decision to a machine's routes: the named
// prefixes (all advertised ones when none are named) move to approved or
// to rejected. A prefix the machine does not advertise is refused.
func (mr MachineRoutes) Decide(d RouteDecision, approve bool) (MachineRoutes, []string, error) {
	var names []string
	for _, s := range d.Routes {
		p, err := ParseRoute(s)
		if err != nil {
			return mr, nil, err
		}
		if p.Bits() == 0 {
			return mr, nil, Errorf(CodeInvalidRoute, "route %s: decide an exit node with exit_node (--exit-node)", p)
		}
		names = append(names, p.String())
	}
	if d.ExitNode {
		names = append(names, ExitRoute4.String(), ExitRoute6.String())
	}
	if len(names) == 0 {
		names = slices.Clone(mr.Advertised)
	}
	if len(names) == 0 {
		return mr, nil, Errorf(CodeInvalidRoute, "the machine advertises no routes")
	}
	for _, n := range names {
		if !slices.Contains(mr.Advertised, n) {
			what := "route " + n
			if IsExitRoute(n) {
				what = "an exit node"
			}
			return mr, nil, Errorf(CodeInvalidRoute, "the machine does not advertise %s (it advertises %v)", what, mr.Advertised)
		}
	}
	out := MachineRoutes{Advertised: mr.Advertised, Failing: mr.Failing}
	if approve {
		out.Approved, out.Rejected = union(mr.Approved, names), without(mr.Rejected, names)
	} else {
		out.Approved, out.Rejected = without(mr.Approved, names), union(mr.Rejected, names)
	}
	return out, names, nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func without(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// String describes a decision for the audit log.
func (d RouteDecision) String() string {
	if d.ExitNode {
		return fmt.Sprintf("routes %v and the exit node", d.Routes)
	}
	return fmt.Sprintf("routes %v", d.Routes)
}

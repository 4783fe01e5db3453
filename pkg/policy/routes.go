package policy

// Subnet routes and exit nodes under the policy.
//
// A machine may route subnets beside it (a subnet router) or the internet
// (an exit node) once an admin, or the policy's autoApprovers, approve
// what it advertises. The policy then treats a route like any other
// destination: a rule whose dst covers it (an address or range, a name
// from "hosts", "*" for every subnet route, autogroup:internet for exit
// nodes) lets its src reach it through the router. That makes the router
// and the src peers (ClassOf), tells the src which routes to install
// (RouteAccess) and tells the router what to forward (Inbound's rules
// with Dst), so the policy is enforced on the router whatever the client
// does.

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// Internet is the selector for destinations reached through an exit node.
const Internet = "autogroup:internet"

// Dst keywords of filter rules (wire.FilterRule.Dst).
const (
	DstRoutes   = "routes" // every subnet the machine routes
	DstInternet = Internet // internet addresses (IsInternet)
)

// internetExample stands for "an internet address" in tests.
var internetExample = netip.MustParseAddr("198.51.100.1")

// cgnat is the shared address space the overlay's IPv4 lives in; it is
// never the internet.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsInternet reports whether a is an address on the internet: not
// private, shared (the overlay's 100.64.0.0/10), loopback, link-local,
// multicast or unspecified. autogroup:internet covers exactly these, so
// an exit node never forwards into its own LAN unless a rule names it.
func IsInternet(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() &&
		!a.IsUnspecified() && !a.IsLinkLocalMulticast() && !a.IsInterfaceLocalMulticast() && !cgnat.Contains(a)
}

func anyInternet(addrs []netip.Addr) bool {
	return slices.ContainsFunc(addrs, IsInternet)
}

// dstText is how an atom that selects routes is written in a filter
// rule's Dst.
func (a atom) dstText() string {
	switch a.kind {
	case atomAll:
		return DstRoutes
	case atomInternet:
		return DstInternet
	}
	return a.prefix.String()
}

// compileHosts checks "hosts": each name a plain word (not a selector),
// each value an address or a range without host bits.
func (c *checker) compileHosts(doc *Document) {
	for _, n := range slices.Sorted(maps.Keys(doc.Hosts)) {
		path := "/hosts/" + escapePointer(n)
		if err := validHostName(n); err != nil {
			c.add(path, "host name %q: %v", n, err)
			continue
		}
		pfx, err := parsePrefix(doc.Hosts[n])
		if err != nil {
			c.add(path, "host %q: %q is not an address or range (%v)", n, doc.Hosts[n], err)
			continue
		}
		c.hosts[n] = pfx
	}
}

func validHostName(n string) error {
	if n == "" || len(n) > 63 {
		return fmt.Errorf("a name is 1–63 characters")
	}
	if strings.Contains(n, ":") || n == "*" {
		return fmt.Errorf("a name has no ':' (it would read as a selector)")
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return fmt.Errorf("a name is not an address")
	}
	for i := 0; i < len(n); i++ {
		ch := n[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.') {
			return fmt.Errorf("a name may contain only lowercase letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// hostPrefix returns a "hosts" entry.
func (p *Policy) hostPrefix(name string) (netip.Prefix, bool) {
	s, ok := p.Doc.Hosts[name]
	if !ok {
		return netip.Prefix{}, false
	}
	pfx, err := parsePrefix(s)
	return pfx, err == nil
}

// autoRoute approves routes inside prefix for machines matching who.
type autoRoute struct {
	prefix netip.Prefix
	who    []atom
}

// compileAutoApprovers checks "autoApprovers". Its selectors are resolved
// apart from the rules' atoms: approving is not reaching, and must not
// split machines into more classes.
func (c *checker) compileAutoApprovers(p *Policy) {
	aa := p.Doc.AutoApprovers
	if aa == nil {
		return
	}
	resolve := func(path string, sels []string) []atom {
		return c.resolveApart(p, path, sels, "approve routes", "routes are approved")
	}
	for _, k := range slices.Sorted(maps.Keys(aa.Routes)) {
		path := "/autoApprovers/routes/" + escapePointer(k)
		pfx, err := parsePrefix(k)
		if err != nil {
			if h, ok := c.hosts[k]; ok {
				pfx, err = h, nil
			}
		}
		if err != nil {
			c.add(path, "%q is not a range (%v)", k, err)
			continue
		}
		if pfx.Bits() == 0 {
			c.add(path, "%s would approve an exit node: use \"exitNode\"", pfx)
			continue
		}
		p.autoRoutes = append(p.autoRoutes, autoRoute{prefix: pfx, who: resolve(path, aa.Routes[k])})
	}
	p.autoExit = resolve("/autoApprovers/exitNode", aa.ExitNode)
}

// resolveApart resolves selectors (tag:, group:, machine:) apart from the
// rules' atoms, for settings that name machines without granting reach
// (approving routes, relaying): they must not split machines into more
// classes. what and whoFor word the errors.
func (c *checker) resolveApart(p *Policy, path string, sels []string, what, whoFor string) []atom {
	saved := c.atomIdx
	c.atomIdx = map[atom]int{}
	defer func() { c.atomIdx = saved }()
	var out []atom
	for j, s := range sels {
		at := fmt.Sprintf("%s/%d", path, j)
		if s == Internet || s == "*" {
			c.add(at, "%q cannot %s: name tags, groups or machines", s, what)
			continue
		}
		if !strings.HasPrefix(s, "tag:") && !strings.HasPrefix(s, "group:") && !strings.HasPrefix(s, "machine:") {
			c.add(at, "%q: %s for tag:NAME, group:NAME or machine:NAME", s, whoFor)
			continue
		}
		before := len(c.atomIdx)
		c.selector(at, s, &p.Doc)
		for a, i := range c.atomIdx {
			if i >= before {
				out = append(out, a)
			}
		}
	}
	return out
}

// compileRelays checks "relays": the machines that relay WireGuard
// packets between other machines (peer relays).
func (c *checker) compileRelays(p *Policy) {
	p.relays = c.resolveApart(p, "/relays", p.Doc.Relays, "relay", "relays are named")
}

// IsRelay reports whether m relays packets for other machines.
func (p *Policy) IsRelay(m Machine) bool { return matchesAny(p.relays, m) }

// HasRelays reports whether the policy names any relay.
func (p *Policy) HasRelays() bool { return len(p.relays) > 0 }

func matchesAny(who []atom, m Machine) bool {
	for _, a := range who {
		if self, _ := a.match(m); self {
			return true
		}
	}
	return false
}

// AutoApproves reports whether the policy approves route for machine m
// without an admin: a key of autoApprovers.routes contains it and m
// matches one of the key's selectors.
func (p *Policy) AutoApproves(m Machine, route netip.Prefix) bool {
	for _, ar := range p.autoRoutes {
		if ar.prefix.Bits() <= route.Bits() && ar.prefix.Contains(route.Addr()) && matchesAny(ar.who, m) {
			return true
		}
	}
	return false
}

// AutoApprovesExitNode reports whether m may be an exit node without an
// admin's approval.
func (p *Policy) AutoApprovesExitNode(m Machine) bool { return matchesAny(p.autoExit, m) }

// RouteAccess returns what machines of class c may use of other machines'
// routes: the destinations of the rules they are a source of ("*" for
// every subnet route, autogroup:internet for exit nodes, else ranges),
// and the ranges of the rules that let a subnet reach them (its replies
// and connections come through the router). An agent installs a route
// only where it overlaps one of these; the router enforces the rules
// either way.
func (p *Policy) RouteAccess(c Class) []string {
	p.visMu.RLock()
	ra, ok := p.access[c]
	p.visMu.RUnlock()
	if ok {
		return ra
	}
	cb := c.bits()
	seen := map[string]bool{}
	ra = []string{}
	note := func(s string) {
		if !seen[s] {
			seen[s] = true
			ra = append(ra, s)
		}
	}
	for _, r := range p.rules {
		if r.from(cb) {
			for i, a := range p.atoms {
				if !r.dst.has(i) {
					continue
				}
				switch a.kind {
				case atomAll:
					note("*")
				case atomInternet:
					note(Internet)
				case atomPrefix:
					note(a.prefix.String())
				}
			}
		}
		if r.dst.intersects(cb) {
			for i, a := range p.atoms {
				if r.src.has(i) && a.kind == atomPrefix && r.posture == nil { // a subnet has no posture
					note(a.prefix.String())
				}
			}
		}
	}
	sort.Strings(ra)
	p.visMu.Lock()
	if p.access == nil {
		p.access = map[Class][]string{}
	}
	p.access[c] = ra
	p.visMu.Unlock()
	return ra
}

// Grants reports whether an access list (RouteAccess) lets its machine
// use route: "*" covers every subnet route, autogroup:internet the
// default routes of an exit node, a range every route it overlaps. A nil
// list (no policy) grants everything.
func Grants(access []string, route netip.Prefix) bool {
	if access == nil {
		return true
	}
	for _, s := range access {
		switch s {
		case "*":
			if route.Bits() > 0 {
				return true
			}
		case Internet:
			if route.Bits() == 0 {
				return true
			}
		default:
			if pfx, err := netip.ParsePrefix(s); err == nil && pfx.Overlaps(route) && (route.Bits() > 0 || pfx.Bits() == 0) {
				return true
			}
		}
	}
	return false
}

// Reachable reports whether some rule lets some machine use route: a dst
// of "*" (a subnet), autogroup:internet (an exit node's default routes)
// or a range that overlaps it. A route nobody may use is worth telling
// the admin about.
func (p *Policy) Reachable(route netip.Prefix) bool {
	for _, r := range p.rules {
		for i, a := range p.atoms {
			if !r.dst.has(i) {
				continue
			}
			switch a.kind {
			case atomAll:
				if route.Bits() > 0 {
					return true
				}
			case atomInternet:
				if route.Bits() == 0 {
					return true
				}
			case atomPrefix:
				if a.prefix.Overlaps(route) && route.Bits() > 0 {
					return true
				}
			}
		}
	}
	return false
}

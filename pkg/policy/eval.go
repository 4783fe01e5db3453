package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// bitset is a set of atom indexes.
type bitset []uint64

func (b *bitset) set(i int) {
	for len(*b) <= i/64 {
		*b = append(*b, 0)
	}
	(*b)[i/64] |= 1 << (i % 64)
}

func (b bitset) intersects(o bitset) bool {
	for i := 0; i < len(b) && i < len(o); i++ {
		if b[i]&o[i] != 0 {
			return true
		}
	}
	return false
}

// Class identifies the machines a policy cannot tell apart: those that
// match the same selectors. Machines of one class have the same peers and
// the same rules, so visibility is computed per pair of classes, not per
// pair of machines.
type Class string

// ClassOf returns m's class under p. When the policy names only tags
// (and *), machines with the same tags share it: it is computed once per
// set of tags.
//
// A class is the atoms that select the machine itself and, after a "|"
// only for machines that route, the atoms that select some of its
// routes: both make it a peer, but only the first lets a connection end
// on the machine (Inbound).
func (p *Policy) ClassOf(m Machine) Class {
	var key string
	cacheable := p.tagsOnly && len(m.Routes) == 0 && !m.ExitNode && !m.External
	if cacheable {
		key = strings.Join(m.Tags, "\x00")
		p.visMu.RLock()
		c, ok := p.byTags[key]
		p.visMu.RUnlock()
		if ok {
			return c
		}
	}
	var b, rb bitset
	for i, a := range p.atoms {
		self, route := a.match(m)
		if a.kind == atomPosture {
			self = !m.External && p.postures[a.name].has(m)
		}
		if self {
			b.set(i)
		}
		if route {
			rb.set(i)
		}
	}
	c := classOf(b)
	if rc := classOf(rb); rc != "" {
		c += "|" + rc
	}
	if cacheable {
		p.visMu.Lock()
		if p.byTags == nil {
			p.byTags = map[string]Class{}
		}
		p.byTags[key] = c
		p.visMu.Unlock()
	}
	return c
}

func classOf(b bitset) Class {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	buf := make([]byte, 0, 16*len(b))
	for _, w := range b {
		buf = fmt.Appendf(buf, "%016x", w)
	}
	return Class(buf)
}

// bits returns every atom of the class: those that select the machine
// and those that select its routes.
func (c Class) bits() bitset {
	self, route := c.split()
	for i, w := range route {
		if i < len(self) {
			self[i] |= w
		} else {
			self = append(self, w)
		}
	}
	return self
}

// split returns the atoms that select the machine and those that select
// its routes.
func (c Class) split() (self, route bitset) {
	s, r, _ := strings.Cut(string(c), "|")
	return parseBits(s), parseBits(r)
}

func parseBits(s string) bitset {
	b := make(bitset, 0, len(s)/16)
	for i := 0; i+16 <= len(s); i += 16 {
		w, _ := strconv.ParseUint(s[i:i+16], 16, 64)
		b = append(b, w)
	}
	return b
}

// Visible reports whether machines of classes a and b are peers: some rule
// lets one reach the other.
func (p *Policy) Visible(a, b Class) bool {
	if a > b {
		a, b = b, a
	}
	k := [2]Class{a, b}
	p.visMu.RLock()
	v, ok := p.vis[k]
	p.visMu.RUnlock()
	if ok {
		return v
	}
	ab, bb := a.bits(), b.bits()
	for _, r := range p.rules {
		if r.from(ab) && r.dst.intersects(bb) || r.from(bb) && r.dst.intersects(ab) {
			v = true
			break
		}
	}
	for _, s := range p.ssh {
		if v {
			break
		}
		v = s.net.from(ab) && s.net.dst.intersects(bb) || s.net.from(bb) && s.net.dst.intersects(ab)
	}
	p.visMu.Lock()
	p.vis[k] = v
	p.visMu.Unlock()
	return v
}

// Peers reports whether machines a and b are peers under p.
func (p *Policy) Peers(a, b Machine) bool { return p.Visible(p.ClassOf(a), p.ClassOf(b)) }

// Allows reports whether src may open a connection to dst with proto on
// port (port is ignored for ICMP).
func (p *Policy) Allows(src, dst Machine, proto Proto, port uint16) bool {
	return p.Rule(src, dst, proto, port) >= 0
}

// Rule returns the index of the first rule that lets src open a
// connection to dst with proto on port, or -1. dst is a machine (or an
// External address): what its routes admit is Inbound's.
func (p *Policy) Rule(src, dst Machine, proto Proto, port uint16) int {
	sb := p.ClassOf(src).bits()
	db, _ := p.ClassOf(dst).split()
	for _, r := range p.rules {
		if r.from(sb) && r.dst.intersects(db) && r.allows(proto, port) {
			return r.index
		}
	}
	return -1
}

// from reports whether the rule admits sources of class bits b: a source
// selector matches, and the machine has one of the rule's postures.
func (r rule) from(b bitset) bool {
	return r.src.intersects(b) && (r.posture == nil || r.posture.intersects(b))
}

func (r rule) allows(proto Proto, port uint16) bool {
	if r.proto != Any && r.proto != proto {
		return false
	}
	if proto == ICMP {
		return r.ports == nil // "any" with ports limits to those ports: no ICMP
	}
	if r.ports == nil {
		return true
	}
	for _, pr := range r.ports {
		if port >= pr.First && port <= pr.Last {
			return true
		}
	}
	return false
}

// Rules returns the number of rules.
func (p *Policy) Rules() int { return len(p.rules) }

// Target is a destination in a test or a `policy test` query:
// "SELECTOR:PORT", "SELECTOR:PORT/udp" or "SELECTOR:icmp".
type Target struct {
	Who   string
	Proto Proto
	Port  uint16
}

// ParseTarget parses a destination such as tag:web:443, machine:db-1:5432/tcp,
// 100.64.0.9:53/udp, [fd00::9]:22 or tag:web:icmp.
func ParseTarget(s string) (Target, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return Target{}, fmt.Errorf("%q: write the destination as SELECTOR:PORT, SELECTOR:PORT/udp or SELECTOR:icmp", s)
	}
	who, what := s[:i], s[i+1:]
	if strings.HasPrefix(who, "[") && strings.HasSuffix(who, "]") {
		who = who[1 : len(who)-1]
	}
	t := Target{Who: who, Proto: TCP}
	if what == "icmp" {
		t.Proto = ICMP
		return t, nil
	}
	port, proto, hasProto := strings.Cut(what, "/")
	if hasProto {
		switch proto {
		case "tcp":
		case "udp":
			t.Proto = UDP
		default:
			return t, fmt.Errorf("%q: the protocol after / is tcp or udp", s)
		}
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return t, fmt.Errorf("%q: write the destination as SELECTOR:PORT (1–65535), SELECTOR:PORT/udp or SELECTOR:icmp", s)
	}
	t.Port = uint16(n)
	return t, nil
}

// resolve turns a test's selector into the machine it stands for: a real
// machine (by name, ID or address) from fleet, or a hypothetical one with
// only the given tag.
func (p *Policy) resolve(who string, fleet []Machine) (Machine, error) {
	switch {
	case strings.HasPrefix(who, "tag:"):
		name := who[len("tag:"):]
		return Machine{ID: "(test)", Name: "(a machine with " + who + ")", Tags: []string{name}}, nil
	case strings.HasPrefix(who, "machine:"):
		name := who[len("machine:"):]
		for _, m := range fleet {
			if m.Name == name || m.ID == name {
				return m, nil
			}
		}
		return Machine{}, fmt.Errorf("no machine named %q", name)
	case who == Internet:
		return Machine{ID: "(test)", Name: "(an internet address)", Addrs: []netip.Addr{internetExample}, External: true}, nil
	case strings.HasPrefix(who, Directory) && len(who) > len(Directory):
		return directoryMachine(who), nil
	}
	if pfx, ok := p.hostPrefix(who); ok {
		return Machine{ID: "(test)", Name: who, Addrs: []netip.Addr{pfx.Addr()}, External: true}, nil
	}
	ip, err := netip.ParseAddr(who)
	if err != nil {
		return Machine{}, fmt.Errorf("%q: a test names tag:NAME, machine:NAME, directory:GROUP, a name from \"hosts\", %s or an address", who, Internet)
	}
	for _, m := range fleet {
		for _, a := range m.Addrs {
			if a == ip {
				return m, nil
			}
		}
	}
	// Not a machine's: a host beside the fleet (behind a subnet router,
	// or on the internet), or an overlay address no machine holds yet.
	return Machine{ID: "(test)", Name: ip.String(), Addrs: []netip.Addr{ip}, External: true}, nil
}

// Check answers a query: may src reach dst (a Target)?
func (p *Policy) Check(src, dst string, fleet []Machine) (bool, error) {
	i, err := p.CheckRule(src, dst, fleet)
	return i >= 0, err
}

// CheckRule is Check returning the index of the rule that allows it (-1:
// none does).
func (p *Policy) CheckRule(src, dst string, fleet []Machine) (int, error) {
	return p.CheckRuleGiven(src, dst, fleet, nil)
}

// CheckRuleGiven is CheckRule with the source taken to have the given
// facts (GivenFacts), over what its agent reported.
func (p *Policy) CheckRuleGiven(src, dst string, fleet []Machine, given map[string]string) (int, error) {
	a, err := p.Explain(src, dst, fleet, given)
	return a.Rule, err
}

// Explanation answers a query: the rule that allows it (-1: none), and
// when none does but one would if the source had a posture, that rule
// and the postures it asks for that the source lacks, with why.
type Explanation struct {
	Rule        int
	PostureRule int
	Missing     []PostureResult
}

// Explain answers whether src may reach dst (a Target), with the source
// taken to have the given facts, and says which posture stands in the
// way when one does.
func (p *Policy) Explain(src, dst string, fleet []Machine, given map[string]string) (Explanation, error) {
	out := Explanation{Rule: -1, PostureRule: -1}
	s, err := p.resolve(src, fleet)
	if err != nil {
		return out, err
	}
	if len(given) > 0 {
		s.Given = given
	}
	t, err := ParseTarget(dst)
	if err != nil {
		return out, err
	}
	d, err := p.resolve(t.Who, fleet)
	if err != nil {
		return out, err
	}
	if out.Rule = p.Rule(s, d, t.Proto, t.Port); out.Rule >= 0 {
		return out, nil
	}
	sb := p.ClassOf(s).bits()
	db, _ := p.ClassOf(d).split()
	for _, r := range p.rules {
		if r.posture != nil && r.src.intersects(sb) && r.dst.intersects(db) && r.allows(t.Proto, t.Port) {
			out.PostureRule = r.index
			for _, res := range p.Postures(s) {
				if slices.Contains(p.Doc.Rules[r.index].SrcPosture, res.Name) {
					out.Missing = append(out.Missing, res)
				}
			}
			break
		}
	}
	return out, nil
}

// TestResult is the outcome of one expectation of a test.
type TestResult struct {
	Test   int    `json:"test"` // index in Doc.Tests
	Src    string `json:"src"`
	Dst    string `json:"dst"`
	Accept bool   `json:"accept"` // expected
	Pass   bool   `json:"pass"`
}

// TestResults evaluates every test against fleet.
func (p *Policy) TestResults(fleet []Machine) []TestResult {
	var out []TestResult
	for i, t := range p.Doc.Tests {
		for _, want := range []struct {
			list   []string
			accept bool
		}{{t.Accept, true}, {t.Deny, false}} {
			for _, dst := range want.list {
				ri, err := p.CheckRuleGiven(t.Src, dst, fleet, t.SrcFacts)
				got := ri >= 0
				out = append(out, TestResult{Test: i, Src: t.Src, Dst: dst, Accept: want.accept, Pass: err == nil && got == want.accept})
			}
		}
	}
	return out
}

func (c *checker) runTests(p *Policy, fleet []Machine) {
	for i, t := range p.Doc.Tests {
		path := fmt.Sprintf("/tests/%d", i)
		if t.Src == "" {
			c.add(path, "test %d has no src", i+1)
			continue
		}
		if strings.HasPrefix(t.Src, "tag:") && !c.declared[t.Src[len("tag:"):]] {
			c.add(path+"/src", "unknown tag %q: declare it in \"tags\"", t.Src)
			continue
		}
		if len(t.Accept)+len(t.Deny) == 0 {
			c.add(path, "test %d expects nothing: give accept or deny", i+1)
		}
		for k, v := range t.SrcFacts {
			if _, err := GivenFacts([]string{k + "=" + v}); err != nil {
				c.add(path+"/srcFacts/"+escapePointer(k), "%v", err)
			}
		}
		for _, want := range []struct {
			key    string
			list   []string
			accept bool
		}{{"accept", t.Accept, true}, {"deny", t.Deny, false}} {
			for j, dst := range want.list {
				at := fmt.Sprintf("%s/%s/%d", path, want.key, j)
				if tg, err := ParseTarget(dst); err == nil && strings.HasPrefix(tg.Who, "tag:") && !c.declared[tg.Who[len("tag:"):]] {
					c.add(at, "unknown tag %q: declare it in \"tags\"", tg.Who)
					continue
				}
				ri, err := p.CheckRuleGiven(t.Src, dst, fleet, t.SrcFacts)
				got := ri >= 0
				switch {
				case err != nil:
					c.add(at, "%v", err)
				case got && !want.accept:
					c.add(at, "test failed: %s can reach %s, which the test denies", t.Src, dst)
				case !got && want.accept:
					c.add(at, "test failed: %s cannot reach %s, which the test accepts", t.Src, dst)
				}
			}
		}
	}
}

// Inbound returns the rules that machines of class c enforce: who may
// open connections to them, with what.
func (p *Policy) Inbound(c Class) []wire.FilterRule {
	p.visMu.RLock()
	rs, ok := p.inbound[c]
	p.visMu.RUnlock()
	if ok {
		return rs
	}
	self, route := c.split()
	rs = []wire.FilterRule{}
	for _, r := range p.rules {
		if r.dst.intersects(self) {
			rs = append(rs, p.filterRule(r, nil))
		}
		if r.dst.intersects(route) {
			// Forwarded traffic: only to what the rule names of the
			// machine's routes (the router's filter checks the
			// destination).
			var dst []string
			for i, a := range p.atoms {
				if r.dst.has(i) && route.has(i) {
					dst = append(dst, a.dstText())
				}
			}
			rs = append(rs, p.filterRule(r, dst))
		}
	}
	for _, s := range p.ssh {
		// The agent's SSH server: port 22 of the machine itself, to
		// whoever an ssh rule admits (the server checks users).
		if s.net.dst.intersects(self) {
			rs = append(rs, p.filterRule(s.net, nil))
		}
	}
	p.visMu.Lock()
	if p.inbound == nil {
		p.inbound = map[Class][]wire.FilterRule{}
	}
	p.inbound[c] = rs
	p.visMu.Unlock()
	return rs
}

func (p *Policy) filterRule(r rule, dst []string) wire.FilterRule {
	fr := wire.FilterRule{Src: []string{}, Dst: dst}
	for i, a := range p.atoms {
		if r.src.has(i) {
			fr.Src = append(fr.Src, a.String())
		}
	}
	for i, a := range p.atoms {
		if r.posture.has(i) {
			fr.SrcPosture = append(fr.SrcPosture, a.name)
		}
	}
	if r.proto != Any {
		fr.Proto = r.proto.String()
	}
	for _, pr := range r.ports {
		fr.Ports = append(fr.Ports, pr.String())
	}
	return fr
}

func (b bitset) has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

// RulesBetween returns the indexes of the rules that let src open some
// connection to dst.
func (p *Policy) RulesBetween(src, dst Machine) []int {
	sb, db := p.ClassOf(src).bits(), p.ClassOf(dst).bits()
	var out []int
	for _, r := range p.rules {
		if r.from(sb) && r.dst.intersects(db) {
			out = append(out, r.index)
		}
	}
	return out
}

// RuleText describes rule i for people: "tag:laptop → tag:web: tcp ports 22,443".
func (p *Policy) RuleText(i int) string {
	r := p.Doc.Rules[i]
	return fmt.Sprintf("%s → %s: %s", strings.Join(r.Src, ", "), strings.Join(r.Dst, ", "), what(r.Proto, r.Ports))
}

// Describe says for people whom a filter rule admits and to what:
// "from tag:laptop: tcp ports 22,443".
func Describe(fr wire.FilterRule) string {
	from := "from " + strings.Join(fr.Src, ", ")
	if len(fr.SrcPosture) > 0 {
		from += " with posture " + strings.Join(fr.SrcPosture, " or ")
	}
	if len(fr.Dst) > 0 {
		return from + " forwarded to " + strings.Join(fr.Dst, ", ") + ": " + what(fr.Proto, fr.Ports)
	}
	return from + ": " + what(fr.Proto, fr.Ports)
}

// what names a rule's protocol and ports for people.
func what(proto string, ports []string) string {
	proto = strings.ToLower(proto)
	if proto == "any" || proto == "*" {
		proto = ""
	}
	switch {
	case proto == "icmp":
		return "icmp"
	case len(ports) == 0 && proto == "":
		return "any protocol, all ports"
	case len(ports) == 0:
		return proto + ", all ports"
	case proto == "":
		return "ports " + strings.Join(ports, ",")
	}
	return proto + " ports " + strings.Join(ports, ",")
}

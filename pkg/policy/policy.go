// Package policy is the fleet's access-control policy: which machines may
// reach which, on which ports.
//
// A policy is a HuJSON document (JSON with comments and trailing commas,
// github.com/tailscale/hujson):
//
//	{
//	  // Tags a rule may name. A tag not declared here is an error, so a
//	  // typo cannot silently match nothing.
//	  "tags": ["tag:laptop", "tag:web", "tag:db"],
//	  "groups": {"group:servers": ["tag:web", "tag:db"]},
//	  "rules": [
//	    {"src": ["tag:laptop"], "dst": ["group:servers"], "proto": "tcp", "ports": ["22", "443"]},
//	    {"src": ["tag:web"], "dst": ["tag:db"], "ports": ["5432"]},
//	    {"src": ["machine:ops-1"], "dst": ["*"]},
//	  ],
//	  "tests": [
//	    {"src": "tag:laptop", "accept": ["tag:web:443"], "deny": ["tag:db:5432"]},
//	  ],
//	}
//
// Rules only allow; what no rule allows is denied. Selectors are "*"
// (every machine), "tag:NAME", "group:NAME" (a named list of other
// selectors), "machine:NAME" (one machine, by name or ID) and overlay
// addresses or ranges ("100.64.0.0/16", "fd00::1"). A rule's proto is tcp,
// udp, icmp or, when absent, any; its ports ("443", "8000-8100", "*") are
// all ports when absent, and an icmp rule takes none. Two machines are
// peers — in each other's network map — when a rule lets either reach the
// other; what they may reach then is enforced by ports and protocols.
//
// Every test must hold before a policy is accepted; every problem is
// reported with its line and column.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/tailscale/hujson"

	"github.com/wirefleet/wirefleet/pkg/jsonkeys"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// MaxSize is the largest policy accepted.
const MaxSize = 1 << 20

// Limits on what a policy holds.
const (
	MaxRules = 10000
	MaxTests = 10000
)

// Proto is an IP protocol a rule allows (Any: all of them).
type Proto uint8

// Protocols rules name. ICMP stands for ICMP and ICMPv6.
const (
	Any  Proto = 0
	ICMP Proto = 1
	TCP  Proto = 6
	UDP  Proto = 17
)

// ParseProto parses tcp, udp, icmp, or "" and "any".
func ParseProto(s string) (Proto, error) {
	switch strings.ToLower(s) {
	case "", "any", "*":
		return Any, nil
	case "tcp":
		return TCP, nil
	case "udp":
		return UDP, nil
	case "icmp":
		return ICMP, nil
	}
	return Any, fmt.Errorf("proto %q: use tcp, udp or icmp (or leave it out for any)", s)
}

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMP:
		return "icmp"
	}
	return "any"
}

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

func (r PortRange) String() string {
	switch {
	case r.First == 0 && r.Last == 65535:
		return "*"
	case r.First == r.Last:
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// Machine is what the policy knows of a machine.
type Machine struct {
	ID    string
	Name  string
	Addrs []netip.Addr // overlay addresses
	Tags  []string     // as stored on the machine, without "tag:"
	// Routes are the subnets the machine routes for the fleet (approved
	// and advertised); ExitNode says it carries traffic to the internet.
	// A rule whose dst covers a route lets its src reach that subnet
	// through the machine (see routes.go).
	Routes   []netip.Prefix
	ExitNode bool
	// External marks a destination outside the fleet (a LAN host behind a
	// router, an internet address), as a test or `policy test` names it.
	External bool
	// Facts are what the machine's agent reported of it (nil: nothing),
	// LastUpdate the state of its last self-update ("" none, "ok",
	// "rolled_back", "failed"): what postures test. Given overrides facts
	// by key (a `policy test --src-facts` query).
	Facts      *wire.Facts
	LastUpdate string
	Given      map[string]string
	// Recent lists the durations of the policy's last_seen conditions
	// ("10m0s") the server last found the machine seen within.
	Recent []string
	// Groups are the directory groups of the machine's owner (what
	// "directory:NAME" selects).
	Groups []string
}

// MachineOf returns what the policy knows of a machine: its ID, name,
// tags, overlay addresses, facts and last update's outcome (routes in
// force are the caller's to add).
func MachineOf(m wire.Machine) Machine {
	pm := Machine{ID: m.ID, Name: m.Name, Tags: m.Tags, Facts: m.Facts, Recent: m.SeenWithin, Groups: m.OwnerGroups}
	if m.LastUpdate != nil {
		pm.LastUpdate = m.LastUpdate.State
	}
	for _, s := range []string{m.IPv4, m.IPv6} {
		if a, err := netip.ParseAddr(s); err == nil {
			pm.Addrs = append(pm.Addrs, a)
		}
	}
	return pm
}

// Document is a policy as written.
type Document struct {
	Tags   []string            `json:"tags,omitempty"`
	Groups map[string][]string `json:"groups,omitempty"`
	// Hosts names addresses and subnets beside the fleet ("nas":
	// "10.20.0.5"), so rules and tests can say what they mean.
	Hosts         map[string]string `json:"hosts,omitempty"`
	AutoApprovers *AutoApprovers    `json:"autoApprovers,omitempty"`
	// Relays are the machines (tag:, group:, machine:) that relay
	// WireGuard ciphertext between other machines that cannot reach each
	// other directly, over UDP (peer relays).
	Relays []string `json:"relays,omitempty"`
	// Postures name conditions on machines' facts ("os.version >= 12")
	// that a rule's srcPosture requires of its sources (posture.go).
	Postures map[string][]string `json:"postures,omitempty"`
	// FlowLogs turns flow logging on for the machines it names (flows.go).
	FlowLogs *FlowLogsDoc `json:"flowLogs,omitempty"`
	Rules    []RuleDoc    `json:"rules"`
	// SSH are the rules of logins over the overlay (ssh.go);
	// RecordSessions records every session they admit.
	SSH            []SSHRuleDoc `json:"ssh,omitempty"`
	RecordSessions bool         `json:"recordSessions,omitempty"`
	Tests          []TestDoc    `json:"tests,omitempty"`
}

// AutoApprovers approves advertised routes without an admin, in
// Tailscale's shape: a route is approved when a key's range contains it
// and the advertising machine matches one of the key's selectors; an
// exit node when the machine matches ExitNode.
type AutoApprovers struct {
	Routes   map[string][]string `json:"routes,omitempty"`
	ExitNode []string            `json:"exitNode,omitempty"`
}

// RuleDoc is one rule as written.
type RuleDoc struct {
	Src   []string `json:"src"`
	Dst   []string `json:"dst"`
	Proto string   `json:"proto,omitempty"`
	Ports []string `json:"ports,omitempty"`
	// SrcPosture, when set, admits sources only from machines that have
	// at least one of these postures.
	SrcPosture []string `json:"srcPosture,omitempty"`
}

// TestDoc is one test: what Src may (Accept) and may not (Deny) reach.
// Destinations are "SELECTOR:PORT" (TCP), "SELECTOR:PORT/udp" or
// "SELECTOR:icmp"; an IPv6 address is written in brackets.
type TestDoc struct {
	Src string `json:"src"`
	// SrcFacts are facts the source is taken to have ("agent.version":
	// "1.3.0"), so that tests can say what postures admit.
	SrcFacts map[string]string `json:"srcFacts,omitempty"`
	Accept   []string          `json:"accept,omitempty"`
	Deny     []string          `json:"deny,omitempty"`
}

// Problem is one thing wrong with a policy, where it is.
type Problem struct {
	Line int    `json:"line"` // 1-based; 0 when not known
	Col  int    `json:"col"`
	Path string `json:"path,omitempty"` // JSON pointer, e.g. /rules/2/src/0
	Msg  string `json:"message"`
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Col, p.Msg)
	}
	return p.Msg
}

// Error lists every problem found in a policy.
type Error struct{ Problems []Problem }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("policy: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Policy is a parsed, checked policy, ready to evaluate. It is immutable
// and safe for concurrent use.
type Policy struct {
	Doc    Document
	Source []byte // the text as given (comments kept)

	atoms []atom
	rules []rule

	visMu   sync.RWMutex
	vis     map[[2]Class]bool
	inbound map[Class][]wire.FilterRule
	access  map[Class][]string // RouteAccess
	// autoApprovers, compiled (routes.go)
	autoRoutes []autoRoute
	autoExit   []atom
	relays     []atom // "relays", compiled (routes.go)
	postures   map[string]*posture
	flowSrc    []atom         // "flowLogs": who logs (flows.go)
	flowLogs   *wire.FlowLogs // what they are told
	ssh        []sshRule      // "ssh" (ssh.go)
	// tagsOnly: every atom is * or a tag, so a machine's class depends on
	// its tags alone (byTags caches it).
	tagsOnly bool
	byTags   map[string]Class
}

type atomKind uint8

const (
	atomAll atomKind = iota
	atomTag
	atomMachine
	atomPrefix
	atomInternet  // autogroup:internet: destinations through an exit node
	atomPosture   // a posture a rule's srcPosture names: the machine has it
	atomDirectory // directory:NAME: the machine's owner is in that directory group
)

type atom struct {
	kind   atomKind
	name   string // tag (without "tag:") or machine name/ID
	prefix netip.Prefix
}

func (a atom) String() string {
	switch a.kind {
	case atomAll:
		return "*"
	case atomTag:
		return "tag:" + a.name
	case atomMachine:
		return "machine:" + a.name
	case atomInternet:
		return Internet
	case atomPosture:
		return "posture:" + a.name
	case atomDirectory:
		return Directory + a.name
	}
	return a.prefix.String()
}

// match reports whether the atom selects the machine itself (self) and
// whether it selects some of what the machine routes (route).
func (a atom) match(m Machine) (self, route bool) {
	switch a.kind {
	case atomAll:
		// Every machine, and every subnet route; the internet only
		// where a rule says autogroup:internet.
		return !m.External || !anyInternet(m.Addrs), len(m.Routes) > 0
	case atomTag:
		return slices.Contains(m.Tags, a.name), false
	case atomMachine:
		return a.name == m.Name || a.name == m.ID, false
	case atomInternet:
		return m.External && anyInternet(m.Addrs), m.ExitNode
	case atomPosture:
		return false, false // the policy's: see ClassOf
	case atomDirectory:
		return !m.External && slices.Contains(m.Groups, a.name), false
	}
	for _, ip := range m.Addrs {
		if a.prefix.Contains(ip) {
			self = true
			break
		}
	}
	for _, r := range m.Routes {
		if a.prefix.Overlaps(r) {
			route = true
			break
		}
	}
	return self, route
}

type rule struct {
	src, dst bitset
	// posture: the srcPosture atoms; a source must also have one of them
	// (nil: no condition).
	posture bitset
	proto   Proto
	ports   []PortRange // nil: all
	index   int         // position in Doc.Rules
}

// Parse parses and checks a policy and runs its tests. fleet, when given,
// resolves machine names and addresses the tests name to real machines
// (with their tags); without it a test may only name tags.
func Parse(text []byte, fleet []Machine) (*Policy, error) {
	return parse(text, fleet, true)
}

func parse(text []byte, fleet []Machine, tests bool) (*Policy, error) {
	if len(text) > MaxSize {
		return nil, &Error{[]Problem{{Msg: fmt.Sprintf("the policy is %d bytes; the limit is %d (1 MiB)", len(text), MaxSize)}}}
	}
	if len(text) > 0 && text[len(text)-1] != '\n' {
		// A file that ends in a // comment without a newline is valid to
		// anyone reading it; hujson wants the newline. Positions stay.
		text = append(text[:len(text):len(text)], '\n')
	}
	v, err := hujson.Parse(text)
	if err != nil {
		return nil, &Error{[]Problem{syntaxProblem(err)}}
	}
	std := v.Clone()
	std.Standardize() // comments become spaces: offsets stay those of text
	packed := std.Pack()
	// encoding/json keeps the last of two equal keys and matches keys
	// case-insensitively: {"rules":[],"rules":[allow-all]} would pass
	// review as an empty policy. Every such key is a problem.
	if bad := jsonkeys.All(packed, &Document{}); len(bad) > 0 {
		var ps []Problem
		for _, b := range bad {
			l, c := position(text, int(b.Offset))
			msg := fmt.Sprintf("%q must be written %q: a key in another case is read as the same field, so a second spelling could hide the first", b.Key, b.Want)
			if b.Kind == jsonkeys.Duplicate {
				fl, fc := position(text, int(b.First))
				msg = fmt.Sprintf("%q appears twice in one object (first at line %d, column %d): JSON readers keep only one of them", b.Key, fl, fc)
			}
			ps = append(ps, Problem{Line: l, Col: c, Msg: msg})
		}
		return nil, &Error{ps}
	}
	dec := json.NewDecoder(bytes.NewReader(packed))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, &Error{[]Problem{decodeProblem(text, &v, err)}}
	}
	c := &checker{text: text, root: &v, atomIdx: map[atom]int{}, hosts: map[string]netip.Prefix{}}
	p := &Policy{Doc: doc, Source: slices.Clone(text), vis: map[[2]Class]bool{}}
	c.compile(p)
	if len(c.problems) == 0 && tests {
		c.runTests(p, fleet)
	}
	if len(c.problems) > 0 {
		return nil, &Error{c.problems}
	}
	return p, nil
}

var lineCol = regexp.MustCompile(`line (\d+), column (\d+): `)

func syntaxProblem(err error) Problem {
	msg := err.Error()
	p := Problem{Msg: strings.TrimPrefix(msg, "hujson: ")}
	if m := lineCol.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Col, _ = strconv.Atoi(m[2])
		p.Msg = msg[strings.Index(msg, m[0])+len(m[0]):]
	}
	return p
}

var unknownField = regexp.MustCompile(`unknown field "([^"]*)"`)

func decodeProblem(text []byte, root *hujson.Value, err error) Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		l, c := position(text, int(se.Offset))
		return Problem{Line: l, Col: c, Msg: se.Error()}
	case errors.As(err, &te):
		off := int(te.Offset) // the end of the value: point at its start
		if start, ok := findEnding(root, off); ok {
			off = start
		}
		l, c := position(text, off)
		where := te.Field
		if where == "" {
			where = "the policy"
		}
		return Problem{Line: l, Col: c, Msg: fmt.Sprintf("%s must be %s, not %s", where, jsonKind(te.Type.Kind().String()), te.Value)}
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		// The decoder does not say where: find the first member by that name.
		if off, ok := findMember(root, m[1]); ok {
			l, c := position(text, off)
			return Problem{Line: l, Col: c, Msg: fmt.Sprintf("unknown field %q (known: tags, groups, hosts, autoApprovers, rules, tests; a rule has src, dst, proto, ports; a test has src, accept, deny; autoApprovers has routes, exitNode)", m[1])}
		}
	}
	return Problem{Msg: err.Error()}
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "a list"
	case "map", "struct":
		return "an object"
	case "string":
		return "a string"
	}
	return k
}

func findMember(v *hujson.Value, name string) (int, bool) {
	switch t := v.Value.(type) {
	case *hujson.Object:
		for i := range t.Members {
			if lit, ok := t.Members[i].Name.Value.(hujson.Literal); ok && lit.String() == name {
				return t.Members[i].Name.StartOffset, true
			}
			if off, ok := findMember(&t.Members[i].Value, name); ok {
				return off, true
			}
		}
	case *hujson.Array:
		for i := range t.Elements {
			if off, ok := findMember(&t.Elements[i], name); ok {
				return off, true
			}
		}
	}
	return 0, false
}

// findEnding returns the start of the innermost value that ends at off.
func findEnding(v *hujson.Value, off int) (int, bool) {
	switch t := v.Value.(type) {
	case *hujson.Object:
		for i := range t.Members {
			if s, ok := findEnding(&t.Members[i].Value, off); ok {
				return s, true
			}
		}
	case *hujson.Array:
		for i := range t.Elements {
			if s, ok := findEnding(&t.Elements[i], off); ok {
				return s, true
			}
		}
	}
	if v.EndOffset == off {
		return v.StartOffset, true
	}
	return 0, false
}

// position turns a byte offset into a 1-based line and column.
func position(text []byte, off int) (line, col int) {
	off = min(max(off, 0), len(text))
	line = 1 + bytes.Count(text[:off], []byte("\n"))
	col = 1 + off - (bytes.LastIndexByte(text[:off], '\n') + 1)
	return line, col
}

type checker struct {
	text     []byte
	root     *hujson.Value
	problems []Problem
	atomIdx  map[atom]int
	declared map[string]bool // tag names, without "tag:"
	hosts    map[string]netip.Prefix
}

func (c *checker) add(path, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	if v := c.root.Find(path); v != nil {
		p.Line, p.Col = position(c.text, v.StartOffset)
	}
	c.problems = append(c.problems, p)
}

func (c *checker) compile(p *Policy) {
	doc := &p.Doc
	if len(doc.Rules) > MaxRules {
		c.add("/rules", "%d rules; the limit is %d", len(doc.Rules), MaxRules)
		return
	}
	if len(doc.Tests) > MaxTests {
		c.add("/tests", "%d tests; the limit is %d", len(doc.Tests), MaxTests)
		return
	}
	c.declared = map[string]bool{}
	for i, t := range doc.Tags {
		path := fmt.Sprintf("/tags/%d", i)
		name, ok := strings.CutPrefix(t, "tag:")
		if !ok {
			c.add(path, "%q: a declared tag is written tag:NAME", t)
			continue
		}
		if err := validTag(name); err != nil {
			c.add(path, "%q: %v", t, err)
			continue
		}
		if c.declared[name] {
			c.add(path, "tag %q declared twice", t)
		}
		c.declared[name] = true
	}
	c.compileHosts(doc)
	c.compilePostures(p)
	groupNames := make([]string, 0, len(doc.Groups))
	for g := range doc.Groups {
		groupNames = append(groupNames, g)
	}
	sort.Strings(groupNames)
	for _, g := range groupNames {
		path := "/groups/" + escapePointer(g)
		if !strings.HasPrefix(g, "group:") || len(g) == len("group:") {
			c.add(path, "%q: a group is named group:NAME", g)
			continue
		}
		for i, s := range doc.Groups[g] {
			if strings.HasPrefix(s, "group:") {
				c.add(fmt.Sprintf("%s/%d", path, i), "%q: a group holds tags, machines and addresses, not other groups", s)
				continue
			}
			c.selector(fmt.Sprintf("%s/%d", path, i), s, doc)
		}
	}
	seen := map[string]int{}
	for i, r := range doc.Rules {
		path := fmt.Sprintf("/rules/%d", i)
		cr := rule{index: i}
		before := len(c.problems)
		if len(r.Src) == 0 {
			c.add(path, "rule %d has no src (use \"*\" for every machine)", i+1)
		}
		if len(r.Dst) == 0 {
			c.add(path, "rule %d has no dst (use \"*\" for every machine)", i+1)
		}
		for j, s := range r.Src {
			if s == Internet {
				c.add(fmt.Sprintf("%s/src/%d", path, j), "%s is a destination (traffic through an exit node), not a source", Internet)
				continue
			}
			for _, a := range c.selector(fmt.Sprintf("%s/src/%d", path, j), s, doc) {
				cr.src.set(a)
			}
		}
		for j, s := range r.Dst {
			for _, a := range c.selector(fmt.Sprintf("%s/dst/%d", path, j), s, doc) {
				cr.dst.set(a)
			}
		}
		cr.posture = c.srcPosture(p, path, r.SrcPosture)
		proto, err := ParseProto(r.Proto)
		if err != nil {
			c.add(path+"/proto", "%v", err)
		}
		cr.proto = proto
		if cr.proto == ICMP && len(r.Ports) > 0 {
			c.add(path+"/ports", "an icmp rule has no ports")
		}
		for j, s := range r.Ports {
			pr, err := parsePorts(s)
			if err != nil {
				c.add(fmt.Sprintf("%s/ports/%d", path, j), "%v", err)
				continue
			}
			if pr.First == 0 && pr.Last == 65535 {
				cr.ports = nil
				break
			}
			cr.ports = append(cr.ports, pr)
		}
		key := cr.key()
		if len(c.problems) > before {
			// Already wrong: not compared with the others.
		} else if prev, dup := seen[key]; dup {
			c.add(path, "rule %d repeats rule %d", i+1, prev+1)
		} else {
			seen[key] = i
		}
		p.rules = append(p.rules, cr)
	}
	c.compileSSH(p)
	atoms := make([]atom, len(c.atomIdx))
	for a, i := range c.atomIdx {
		atoms[i] = a
	}
	p.atoms = atoms
	c.compileAutoApprovers(p)
	c.compileRelays(p)
	c.compileFlowLogs(p)
	p.tagsOnly = true
	for _, a := range atoms {
		if a.kind != atomAll && a.kind != atomTag {
			p.tagsOnly = false
		}
	}
}

func (r rule) key() string {
	return fmt.Sprintf("%v|%v|%d|%v|%v", r.src, r.dst, r.proto, r.ports, r.posture)
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func validTag(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("a tag is 1–64 characters")
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == ':' || ch == '_') {
			return errors.New("a tag may contain only lowercase letters, digits, '-', '_' and ':'")
		}
	}
	return nil
}

// selector resolves one selector to atoms, reporting problems at path.
func (c *checker) selector(path, s string, doc *Document) []int {
	intern := func(a atom) []int {
		i, ok := c.atomIdx[a]
		if !ok {
			i = len(c.atomIdx)
			c.atomIdx[a] = i
		}
		return []int{i}
	}
	switch {
	case s == "*":
		return intern(atom{kind: atomAll})
	case strings.HasPrefix(s, "tag:"):
		name := s[len("tag:"):]
		if !c.declared[name] {
			hint := ""
			if near := nearest(name, c.declared); near != "" {
				hint = fmt.Sprintf("; did you mean tag:%s?", near)
			}
			c.add(path, "unknown tag %q: declare it in \"tags\"%s", s, hint)
			return nil
		}
		return intern(atom{kind: atomTag, name: name})
	case strings.HasPrefix(s, "group:"):
		members, ok := doc.Groups[s]
		if !ok {
			c.add(path, "unknown group %q", s)
			return nil
		}
		var out []int
		for _, m := range members {
			if strings.HasPrefix(m, "group:") {
				continue // reported on the group
			}
			out = append(out, c.selectorQuiet(m)...)
		}
		return out
	case strings.HasPrefix(s, "machine:"):
		name := s[len("machine:"):]
		if name == "" {
			c.add(path, "%q: name a machine, e.g. machine:web-1", s)
			return nil
		}
		return intern(atom{kind: atomMachine, name: name})
	case s == Internet:
		return intern(atom{kind: atomInternet})
	case strings.HasPrefix(s, Directory):
		name := s[len(Directory):]
		if err := wire.ValidateDirectoryName(name); err != nil {
			c.add(path, "%q: name a group of the company's directory, e.g. directory:Engineering (%v)", s, err)
			return nil
		}
		return intern(atom{kind: atomDirectory, name: name})
	}
	if pfx, ok := c.hosts[s]; ok {
		return intern(atom{kind: atomPrefix, prefix: pfx})
	}
	pfx, err := parsePrefix(s)
	if err != nil {
		c.add(path, "%q is not a selector: use *, tag:NAME, group:NAME, machine:NAME, directory:GROUP, %s, a name from \"hosts\" or an address or range (%v)", s, Internet, err)
		return nil
	}
	return intern(atom{kind: atomPrefix, prefix: pfx})
}

// selectorQuiet resolves a group member; its problems were reported
// where the group is defined.
func (c *checker) selectorQuiet(s string) []int {
	n := len(c.problems)
	out := c.selector("", s, nil)
	c.problems = c.problems[:n]
	return out
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Masked() != p {
			return p, fmt.Errorf("%s has host bits set; the range is %s", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParsePorts parses "443", "8000-8100" or "*".
func ParsePorts(s string) (PortRange, error) { return parsePorts(s) }

func parsePorts(s string) (PortRange, error) {
	if s == "*" {
		return PortRange{0, 65535}, nil
	}
	first, last, isRange := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(first, 10, 16)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.ParseUint(last, 10, 16)
	}
	switch {
	case err1 != nil || err2 != nil || a == 0 || b == 0:
		return PortRange{}, fmt.Errorf("port %q: use a port 1–65535, a range like 8000-8100, or *", s)
	case b < a:
		return PortRange{}, fmt.Errorf("port range %q runs backwards", s)
	}
	return PortRange{uint16(a), uint16(b)}, nil
}

// nearest returns the declared tag closest to name (edit distance ≤ 2).
func nearest(name string, declared map[string]bool) string {
	best, bestD := "", 3
	for d := range declared {
		if k := editDistance(name, d); k < bestD || k == bestD && d < best {
			best, bestD = d, k
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Load parses a policy that was accepted before (stored), without running
// its tests: they may name machines that have since gone.
func Load(text []byte) (*Policy, error) {
	return parse(text, nil, false)
}

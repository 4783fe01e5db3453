package policy

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Postures are named sets of conditions on what a machine's agent reports
// of it (wire.Facts) and on its last self-update:
//
//	"postures": {"healthy": ["os.version >= 12", "agent.version >= 1.4.0",
//	                         "disk.encrypted", "update.failed == false"]}
//
// A machine has a posture when every condition holds; a fact the machine
// did not report fails its condition (a posture never admits what it
// cannot see). A rule's "srcPosture" lets its sources in only from
// machines that have at least one of the postures it names.
//
// A posture a rule uses is one more atom of a machine's class (its bit is
// set when the machine has it), so the server evaluates postures once per
// machine change and everything after — visibility, deltas, filter rules
// — stays per class, whatever the number of peers.

// MaxPostures bounds the postures of a policy, and MaxConditions the
// conditions of one posture.
const (
	MaxPostures   = 100
	MaxConditions = 32
)

// postureKind says how a fact compares.
type postureKind uint8

const (
	kindText    postureKind = iota // == and != only
	kindVersion                    // dotted numbers: 12 < 12.7 < 13
	kindSemver                     // the agent's semantic version
	kindNumber
	kindBool
	kindRecency // last_seen < DURATION
)

// postureKeys are the facts a condition may test, with how they compare.
// They are wire.FactKeys (minus what identifies a single machine, which a
// posture has no business with) and the outcome of the last self-update.
var postureKeys = map[string]postureKind{
	"hostname": kindText, "os.name": kindText, "os.version": kindVersion, "os.kernel": kindVersion,
	"os.arch": kindText, "cpu.model": kindText, "cpu.cores": kindNumber, "memory.bytes": kindNumber,
	"disk.encrypted": kindBool, "firewall.enabled": kindBool,
	"cloud.provider": kindText, "cloud.region": kindText, "cloud.zone": kindText, "cloud.instance_type": kindText,
	"agent.version": kindSemver, "update.failed": kindBool, "last_seen": kindRecency,
}

// MinLastSeen is the shortest last_seen a posture may ask for: the server
// learns of machines' contact in batches and checks every 30 s.
const MinLastSeen = time.Minute

// PostureKeys lists the facts a posture condition may test, sorted.
func PostureKeys() []string {
	keys := make([]string, 0, len(postureKeys))
	for k := range postureKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type condition struct {
	key, op, value string
	kind           postureKind
	text           string // as written
}

type posture struct {
	name  string
	conds []condition
}

var operators = []string{"==", "!=", ">=", "<=", ">", "<"} // longest first

// parseCondition parses "KEY OP VALUE" or a bare boolean "KEY" (true).
// VALUE may be quoted ('…' or "…").
func parseCondition(s string) (condition, error) {
	c := condition{text: s}
	t := strings.TrimSpace(s)
	at, op := -1, ""
	for _, o := range operators {
		if i := strings.Index(t, o); i >= 0 && (at < 0 || i < at) {
			at, op = i, o
		}
	}
	if at < 0 {
		c.key, c.op, c.value = t, "==", "true"
	} else {
		c.key, c.op, c.value = strings.TrimSpace(t[:at]), op, strings.TrimSpace(t[at+len(op):])
		if n := len(c.value); n >= 2 && (c.value[0] == '\'' || c.value[0] == '"') && c.value[n-1] == c.value[0] {
			c.value = c.value[1 : n-1]
		}
	}
	kind, ok := postureKeys[c.key]
	if !ok {
		hint := ""
		known := map[string]bool{}
		for k := range postureKeys {
			known[k] = true
		}
		if near := nearest(c.key, known); near != "" {
			hint = fmt.Sprintf("; did you mean %s?", near)
		}
		return c, fmt.Errorf("%q: unknown fact %q (one of %s)%s", s, c.key, strings.Join(PostureKeys(), ", "), hint)
	}
	c.kind = kind
	if c.value == "" {
		return c, fmt.Errorf("%q: write the condition as FACT OP VALUE, e.g. os.version >= 12", s)
	}
	ordered := op == ">" || op == "<" || op == ">=" || op == "<="
	switch kind {
	case kindText:
		if ordered {
			return c, fmt.Errorf("%q: %s is compared with == or != only", s, c.key)
		}
	case kindBool:
		if ordered || c.value != "true" && c.value != "false" {
			return c, fmt.Errorf("%q: %s is true or false (write %s, or %s == false)", s, c.key, c.key, c.key)
		}
	case kindNumber:
		if _, err := strconv.ParseUint(c.value, 10, 64); err != nil {
			return c, fmt.Errorf("%q: %s is compared with a whole number", s, c.key)
		}
	case kindVersion:
		if _, ok := dotted(c.value); !ok {
			return c, fmt.Errorf("%q: %s is compared with a version such as 12 or 10.0.22631", s, c.key)
		}
	case kindSemver:
		if !version.IsValid(c.value) {
			return c, fmt.Errorf("%q: %s is compared with a version such as 1.4.0", s, c.key)
		}
	case kindRecency:
		d, err := time.ParseDuration(c.value)
		if op != "<" || err != nil || d < MinLastSeen || d > 90*24*time.Hour {
			return c, fmt.Errorf("%q: write last_seen < DURATION, from 1m to 2160h (e.g. last_seen < 10m)", s)
		}
		c.value = d.String() // canonical: what Machine.Recent lists
	}
	return c, nil
}

// LastSeenWithin returns the durations the postures' last_seen conditions
// name, sorted: the server records, per machine, which of them it was
// last seen within (Machine.Recent).
func (p *Policy) LastSeenWithin() []time.Duration {
	var out []time.Duration
	for _, ps := range p.postures {
		for _, c := range ps.conds {
			if c.kind == kindRecency {
				d, _ := time.ParseDuration(c.value)
				if !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// dotted parses the leading dotted numbers of a version ("6.1.0-26-amd64"
// is 6.1.0; "24.04" is 24.4).
func dotted(s string) ([]uint64, bool) {
	var out []uint64
	for _, part := range strings.Split(s, ".") {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		if end == 0 {
			break
		}
		n, err := strconv.ParseUint(part[:end], 10, 64)
		if err != nil {
			return nil, false
		}
		out = append(out, n)
		if end < len(part) {
			break
		}
	}
	return out, len(out) > 0
}

// compareDotted compares dotted versions; missing parts are 0 (12 == 12.0).
func compareDotted(a, b []uint64) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// fact returns a fact of m as text: given values first (a `policy test`
// query), then what the agent reported.
func (m Machine) fact(key string) (string, bool) {
	if v, ok := m.Given[key]; ok {
		return v, true
	}
	if key == "update.failed" {
		if m.LastUpdate == "" {
			return "false", true // no update yet: none failed
		}
		return strconv.FormatBool(m.LastUpdate != "ok"), true
	}
	return m.Facts.Value(key)
}

// holds reports whether c holds for m, and if not, why in words.
func (c condition) holds(m Machine) (bool, string) {
	if c.kind == kindRecency {
		return c.recent(m)
	}
	got, ok := m.fact(c.key)
	if !ok {
		return false, fmt.Sprintf("%s is not known (the agent has not reported it)", c.key)
	}
	var cmp int
	switch c.kind {
	case kindText, kindBool:
		cmp = strings.Compare(got, c.value)
		if c.kind == kindText && cmp != 0 && strings.EqualFold(got, c.value) {
			cmp = 0 // "Debian" is debian
		}
	case kindNumber:
		g, err := strconv.ParseUint(got, 10, 64)
		if err != nil {
			return false, fmt.Sprintf("%s is %q, not a number", c.key, got)
		}
		w, _ := strconv.ParseUint(c.value, 10, 64)
		cmp = compareUint(g, w)
	case kindVersion:
		g, ok := dotted(got)
		if !ok {
			return false, fmt.Sprintf("%s is %q, not a version", c.key, got)
		}
		w, _ := dotted(c.value)
		cmp = compareDotted(g, w)
	case kindSemver:
		if !version.IsValid(got) {
			return false, fmt.Sprintf("%s is %q, not a release version", c.key, got)
		}
		cmp = version.Compare(got, c.value)
	}
	var pass bool
	switch c.op {
	case "==":
		pass = cmp == 0
	case "!=":
		pass = cmp != 0
	case "<":
		pass = cmp < 0
	case "<=":
		pass = cmp <= 0
	case ">":
		pass = cmp > 0
	case ">=":
		pass = cmp >= 0
	}
	if pass {
		return true, ""
	}
	return false, fmt.Sprintf("%s is %s; the posture wants %s", c.key, got, strings.TrimSpace(c.text))
}

// recent decides last_seen < D: from a `policy test` query's given time
// since the machine was seen, else from what the server recorded of it.
func (c condition) recent(m Machine) (bool, string) {
	want, _ := time.ParseDuration(c.value)
	if g, ok := m.Given["last_seen"]; ok {
		ago, err := time.ParseDuration(g)
		if err != nil {
			return false, fmt.Sprintf("last_seen is %q, not a duration", g)
		}
		if ago < want {
			return true, ""
		}
		return false, fmt.Sprintf("last seen %s ago; the posture wants %s", ago, strings.TrimSpace(c.text))
	}
	if slices.Contains(m.Recent, c.value) {
		return true, ""
	}
	return false, fmt.Sprintf("not seen in the last %s; the posture wants %s", c.value, strings.TrimSpace(c.text))
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// has reports whether m has posture ps: every condition holds.
func (ps *posture) has(m Machine) bool {
	for _, c := range ps.conds {
		if ok, _ := c.holds(m); !ok {
			return false
		}
	}
	return true
}

// compilePostures checks "postures": names, conditions, bounds.
func (c *checker) compilePostures(p *Policy) {
	doc := &p.Doc
	if len(doc.Postures) > MaxPostures {
		c.add("/postures", "%d postures; the limit is %d", len(doc.Postures), MaxPostures)
		return
	}
	names := make([]string, 0, len(doc.Postures))
	for n := range doc.Postures {
		names = append(names, n)
	}
	sort.Strings(names)
	p.postures = map[string]*posture{}
	for _, n := range names {
		path := "/postures/" + escapePointer(n)
		if err := validTag(n); err != nil {
			c.add(path, "posture %q: %v", n, strings.Replace(err.Error(), "a tag", "a posture name", 1))
			continue
		}
		conds := doc.Postures[n]
		if len(conds) == 0 {
			c.add(path, "posture %q has no conditions: every machine would have it", n)
			continue
		}
		if len(conds) > MaxConditions {
			c.add(path, "posture %q has %d conditions; the limit is %d", n, len(conds), MaxConditions)
			continue
		}
		ps := &posture{name: n}
		for i, s := range conds {
			cond, err := parseCondition(s)
			if err != nil {
				c.add(fmt.Sprintf("%s/%d", path, i), "%v", err)
				continue
			}
			ps.conds = append(ps.conds, cond)
		}
		p.postures[n] = ps
	}
}

// srcPosture resolves a rule's "srcPosture" to posture atoms.
func (c *checker) srcPosture(p *Policy, path string, names []string) bitset {
	var b bitset
	for j, n := range names {
		at := fmt.Sprintf("%s/srcPosture/%d", path, j)
		if _, ok := p.Doc.Postures[n]; !ok {
			hint := ""
			known := map[string]bool{}
			for k := range p.Doc.Postures {
				known[k] = true
			}
			if near := nearest(n, known); near != "" {
				hint = fmt.Sprintf("; did you mean %s?", near)
			}
			c.add(at, "unknown posture %q: define it in \"postures\"%s", n, hint)
			continue
		}
		a := atom{kind: atomPosture, name: n}
		i, ok := c.atomIdx[a]
		if !ok {
			i = len(c.atomIdx)
			c.atomIdx[a] = i
		}
		b.set(i)
	}
	return b
}

// PostureResult is whether a machine has one posture, and if not why.
type PostureResult struct {
	Name    string   `json:"name"`
	Pass    bool     `json:"pass"`
	Reasons []string `json:"reasons,omitempty"` // each failing condition, in words
}

// Postures evaluates every posture of the policy for m, by name.
func (p *Policy) Postures(m Machine) []PostureResult {
	names := make([]string, 0, len(p.postures))
	for n := range p.postures {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]PostureResult, 0, len(names))
	for _, n := range names {
		r := PostureResult{Name: n, Pass: true}
		for _, c := range p.postures[n].conds {
			if ok, why := c.holds(m); !ok {
				r.Pass = false
				r.Reasons = append(r.Reasons, why)
			}
		}
		out = append(out, r)
	}
	return out
}

// Held returns the postures of the policy that m has, sorted: what its
// peers' filters check a srcPosture rule against. It depends on the
// posture definitions alone (not on which rules use them), so a policy
// edit that keeps them changes no machine's (SamePostures).
func (p *Policy) Held(m Machine) []string {
	var out []string
	for n, ps := range p.postures {
		if !m.External && ps.has(m) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// SamePostures reports whether a and b define the same postures (nil: a
// policy without any).
func SamePostures(a, b *Policy) bool {
	var da, db map[string][]string
	if a != nil {
		da = a.Doc.Postures
	}
	if b != nil {
		db = b.Doc.Postures
	}
	return maps.EqualFunc(da, db, slices.Equal[[]string])
}

// GivenFacts parses `policy test --src-facts` values: KEY=VALUE, each KEY
// a fact a posture may test.
func GivenFacts(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	if len(kvs) > len(postureKeys) {
		return nil, wire.Errorf(wire.CodeInvalidArgument, "%d facts given; a posture tests at most %d", len(kvs), len(postureKeys))
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if _, known := postureKeys[k]; !ok || !known {
			return nil, wire.Errorf(wire.CodeInvalidArgument, "fact %q: want KEY=VALUE with KEY one of %s", kv, strings.Join(PostureKeys(), ", "))
		}
		if err := wire.ValidateFact(k, v, wire.MaxFactLen, false); err != nil {
			return nil, err
		}
		if postureKeys[k] == kindRecency {
			if _, err := time.ParseDuration(v); err != nil {
				return nil, wire.Errorf(wire.CodeInvalidArgument, "fact %q: last_seen is how long ago, e.g. last_seen=15m", kv)
			}
		}
		out[k] = v
	}
	return out, nil
}

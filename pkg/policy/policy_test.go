package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const example = `{
  // Laptops reach the servers' SSH and HTTPS; web reaches the database.
  "tags": ["tag:laptop", "tag:web", "tag:db", "tag:dns", "tag:ops"],
  "groups": {"group:servers": ["tag:web", "tag:db"]},
  "rules": [
    {"src": ["tag:laptop"], "dst": ["group:servers"], "proto": "tcp", "ports": ["22", "443"]},
    {"src": ["tag:web"], "dst": ["tag:db"], "ports": ["5432", "6000-6010"]},
    {"src": ["*"], "dst": ["tag:dns"], "proto": "udp", "ports": ["53"]},
    {"src": ["tag:laptop"], "dst": ["tag:web"], "proto": "icmp"},
    {"src": ["machine:ops-1"], "dst": ["*"]},
    {"src": ["100.64.9.0/24"], "dst": ["tag:web"], "ports": ["8080"]},
  ],
  "tests": [
    {"src": "tag:laptop", "accept": ["tag:web:443", "tag:db:22", "tag:web:icmp"], "deny": ["tag:db:5432", "tag:db:icmp", "tag:web:443/udp"]},
  ],
}`

func machine(name string, ip string, tags ...string) Machine {
	return Machine{ID: "m_" + name, Name: name, Addrs: []netip.Addr{netip.MustParseAddr(ip)}, Tags: tags}
}

// TestRuleSemantics: what each kind of rule allows, and what it does not.
func TestRuleSemantics(t *testing.T) {
	p, err := Parse([]byte(example), nil)
	if err != nil {
		t.Fatal(err)
	}
	laptop := machine("laptop-1", "100.64.0.1", "laptop")
	web := machine("web-1", "100.64.0.2", "web")
	db := machine("db-1", "100.64.0.3", "db")
	dns := machine("dns-1", "100.64.0.4", "dns")
	ops := machine("ops-1", "100.64.0.5")
	lab := machine("lab-1", "100.64.9.7")
	plain := machine("plain", "100.64.0.6", "unlisted")
	for _, tc := range []struct {
		src, dst Machine
		proto    Proto
		port     uint16
		want     bool
		why      string
	}{
		{laptop, web, TCP, 443, true, "group member, listed port"},
		{laptop, db, TCP, 22, true, "group member, listed port"},
		{laptop, web, TCP, 80, false, "port not listed"},
		{laptop, web, UDP, 443, false, "rule is tcp only"},
		{web, laptop, TCP, 22, false, "rules are one-way"},
		{web, db, TCP, 5432, true, "proto any covers tcp"},
		{web, db, UDP, 5432, true, "proto any covers udp"},
		{web, db, TCP, 6005, true, "inside a range"},
		{web, db, TCP, 6011, false, "past a range"},
		{web, db, ICMP, 0, false, "a rule with ports allows no icmp"},
		{laptop, web, ICMP, 0, true, "an icmp rule"},
		{laptop, db, ICMP, 0, false, "icmp only where a rule says so"},
		{plain, dns, UDP, 53, true, "* matches machines with unlisted tags"},
		{plain, dns, TCP, 53, false, "udp only"},
		{ops, plain, TCP, 1, true, "machine:NAME, all ports and protocols"},
		{ops, plain, ICMP, 0, true, "a rule without ports or proto allows icmp"},
		{plain, ops, TCP, 1, false, "…but only from that machine"},
		{lab, web, TCP, 8080, true, "an address range"},
		{lab, db, TCP, 8080, false, "range rule names web only"},
		{db, web, TCP, 443, false, "nothing allows db to web"},
		{plain, web, TCP, 443, false, "default deny"},
	} {
		if got := p.Allows(tc.src, tc.dst, tc.proto, tc.port); got != tc.want {
			t.Errorf("%s → %s %s/%d = %v, want %v (%s)", tc.src.Name, tc.dst.Name, tc.proto, tc.port, got, tc.want, tc.why)
		}
	}
	for _, tc := range []struct {
		a, b Machine
		want bool
	}{
		{laptop, web, true}, {web, laptop, true}, {laptop, db, true}, {web, db, true},
		{db, laptop, true}, {laptop, dns, true}, {plain, dns, true}, {ops, plain, true},
		{laptop, plain, false}, {web, plain, false}, {lab, db, false}, {lab, web, true},
	} {
		if got := p.Peers(tc.a, tc.b); got != tc.want {
			t.Errorf("Peers(%s, %s) = %v, want %v", tc.a.Name, tc.b.Name, got, tc.want)
		}
	}
	if p.ClassOf(laptop) != p.ClassOf(machine("laptop-2", "100.64.0.77", "laptop")) {
		t.Error("two laptops fall in different classes")
	}
	if p.ClassOf(laptop) == p.ClassOf(web) {
		t.Error("a laptop and a web server share a class")
	}
}

// TestProblemsArePositioned: every kind of bad input is refused with a
// message and the line and column of the culprit.
func TestProblemsArePositioned(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		at         string // the text the problem points at (its first occurrence)
		msg        string
	}{
		{"syntax", "{\n  \"rules\": [\n    {\"src\": [\"*\"] \"dst\": [\"*\"]}\n  ]\n}", `"dst"`, "invalid character"},
		{"unknown tag with a suggestion", "{\"tags\": [\"tag:laptop\"],\n \"rules\": [{\"src\": [\"tag:lapotp\"], \"dst\": [\"*\"]}]}", `"tag:lapotp"`, `unknown tag "tag:lapotp": declare it in "tags"; did you mean tag:laptop?`},
		{"bad port", "{\"rules\": [\n {\"src\": [\"*\"], \"dst\": [\"*\"], \"ports\": [\"22\", \"70000\"]}]}", `"70000"`, `port "70000"`},
		{"backwards range", "{\"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"ports\": [\"90-80\"]}]}", `"90-80"`, "runs backwards"},
		{"bad cidr", "{\"rules\": [{\"src\": [\"100.64.0.0/33\"], \"dst\": [\"*\"]}]}", `"100.64.0.0/33"`, "is not a selector"},
		{"host bits", "{\"rules\": [{\"src\": [\"100.64.0.1/16\"], \"dst\": [\"*\"]}]}", `"100.64.0.1/16"`, "host bits set; the range is 100.64.0.0/16"},
		{"icmp with ports", "{\"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"proto\": \"icmp\", \"ports\": [\"1\"]}]}", `["1"]`, "an icmp rule has no ports"},
		{"bad proto", "{\"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"proto\": \"sctp\"}]}", `"sctp"`, `proto "sctp"`},
		{"unknown field", "{\"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"], \"port\": [\"1\"]}]}", `"port"`, `unknown field "port"`},
		{"wrong type", "{\"rules\": [{\"src\": \"*\", \"dst\": [\"*\"]}]}", `"*", "dst"`, "rules.src must be a list, not string"},
		{"duplicate rule", "{\"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"]},\n {\"src\": [\"*\"], \"dst\": [\"*\"]}]}", "{\"src\": [\"*\"], \"dst\": [\"*\"]}]", "rule 2 repeats rule 1"},
		{"nested group", "{\"groups\": {\"group:a\": [\"group:b\"], \"group:b\": []}, \"rules\": []}", `"group:b"]`, "not other groups"},
		{"unknown group", "{\"rules\": [{\"src\": [\"group:x\"], \"dst\": [\"*\"]}]}", `"group:x"`, `unknown group "group:x"`},
		{"empty src", "{\"rules\": [{\"src\": [], \"dst\": [\"*\"]}]}", `{"src"`, "has no src"},
		{"failing test", "{\"tags\": [\"tag:a\", \"tag:b\"], \"rules\": [{\"src\": [\"tag:a\"], \"dst\": [\"tag:b\"], \"ports\": [\"22\"]}],\n \"tests\": [{\"src\": \"tag:a\", \"accept\": [\"tag:b:22\", \"tag:b:23\"]}]}", `"tag:b:23"`, "test failed: tag:a cannot reach tag:b:23"},
		{"contradicting test", "{\"tags\": [\"tag:a\"], \"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"]}],\n \"tests\": [{\"src\": \"tag:a\", \"deny\": [\"tag:a:22\"]}]}", `"tag:a:22"`, "test failed: tag:a can reach tag:a:22, which the test denies"},
		{"bad test target", "{\"tags\": [\"tag:a\"], \"rules\": [],\n \"tests\": [{\"src\": \"tag:a\", \"accept\": [\"tag:a\"]}]}", `"tag:a"]}]}`, "SELECTOR:PORT"},
		{"a second rules hides an allow-all", "{\"rules\": [],\n \"rules\": [{\"src\": [\"*\"], \"dst\": [\"*\"]}]}", `"rules": [{`, `"rules" appears twice in one object (first at line 1, column 2)`},
		{"a second src widens a rule", "{\"tags\": [\"tag:a\"], \"rules\": [{\"src\": [\"tag:a\"], \"dst\": [\"tag:a\"], \"src\": [\"*\"]}]}", `"src": ["*"]`, `"src" appears twice`},
		{"upper-case key", "{\"RULES\": [{\"src\": [\"*\"], \"dst\": [\"*\"]}]}", `"RULES"`, `"RULES" must be written "rules"`},
		{"a group named twice", "{\"groups\": {\"group:a\": [], \"group:a\": [\"*\"]}, \"rules\": []}", `"group:a": ["*"]`, `"group:a" appears twice`},
		{"test names an unknown machine", "{\"rules\": [],\n \"tests\": [{\"src\": \"machine:ghost\", \"deny\": [\"100.64.0.1:22\"]}]}", `"100.64.0.1:22"`, `no machine named "ghost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), nil)
			pe, ok := err.(*Error)
			if !ok || len(pe.Problems) == 0 {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			p := pe.Problems[0]
			off := strings.Index(tc.text, tc.at)
			if off < 0 {
				t.Fatalf("bad test case: %q not in the text", tc.at)
			}
			line, col := position([]byte(tc.text), off)
			if p.Line != line || p.Col != col || !strings.Contains(p.Msg, tc.msg) {
				t.Fatalf("problem = %d:%d %q, want %d:%d (at %s) containing %q (all: %v)", p.Line, p.Col, p.Msg, line, col, tc.at, tc.msg, pe)
			}
		})
	}
}

// A huge policy is refused before it is parsed; many problems are all
// reported at once.
func TestLimits(t *testing.T) {
	big := "{\"rules\": [" + strings.Repeat(" ", MaxSize) + "]}"
	if _, err := Parse([]byte(big), nil); err == nil || !strings.Contains(err.Error(), "limit is 1048576") {
		t.Fatalf("1 MiB policy: %v", err)
	}
	var rules []string
	for i := range 3 {
		rules = append(rules, fmt.Sprintf(`{"src": ["tag:x%d"], "dst": ["*"]}`, i))
	}
	_, err := Parse([]byte(`{"rules": [`+strings.Join(rules, ",")+`]}`), nil)
	if pe, ok := err.(*Error); !ok || len(pe.Problems) != 3 {
		t.Fatalf("want three problems, got %v", err)
	}
}

// Tests may name real machines; a `policy test` query resolves names and
// addresses against the fleet.
func TestCheckAgainstFleet(t *testing.T) {
	fleet := []Machine{machine("web-1", "100.64.0.2", "web"), machine("db-1", "100.64.0.3", "db"), machine("ops-1", "100.64.0.5")}
	text := strings.Replace(example, `"tests": [`, `"tests": [{"src": "machine:web-1", "accept": ["machine:db-1:5432", "100.64.0.3:6000/udp"], "deny": ["machine:db-1:22"]},`, 1)
	p, err := Parse([]byte(text), fleet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		src, dst string
		want     bool
	}{
		{"machine:ops-1", "machine:db-1:1", true},
		{"100.64.0.2", "machine:db-1:5432", true},
		{"machine:db-1", "machine:web-1:443", false},
		{"tag:laptop", "[100.64.0.2]:443", true},
	} {
		got, err := p.Check(tc.src, tc.dst, fleet)
		if err != nil || got != tc.want {
			t.Errorf("Check(%s, %s) = %v, %v; want %v", tc.src, tc.dst, got, err, tc.want)
		}
	}
	for _, r := range p.TestResults(fleet) {
		if !r.Pass {
			t.Errorf("test result %+v", r)
		}
	}
}

// A file ending in a // comment without a final newline is valid (hujson
// alone refuses it with "parsing comment: unexpected EOF").
func TestTrailingCommentWithoutNewline(t *testing.T) {
	if _, err := Load([]byte(`{"rules": []} // nobody reaches anybody`)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]byte("{\"rules\": [] /* open")); err == nil {
		t.Fatal("an unterminated block comment passed")
	}
}

package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

const postureExample = `{
  "tags": ["tag:eng", "tag:db", "tag:mon"],
  "postures": {
    "healthy": ["os.version >= 12", "agent.version >= 1.4.0", "disk.encrypted", "firewall.enabled", "update.failed == false"],
    "linux":   ["os.name == 'debian'"],
    "unused":  ["cpu.cores >= 64"],
  },
  "rules": [
    {"src": ["tag:eng"], "dst": ["tag:db"], "ports": ["5432"], "srcPosture": ["healthy"]},
    {"src": ["*"], "dst": ["*"], "proto": "icmp"},
    {"src": ["tag:mon"], "dst": ["tag:db"], "ports": ["9100"], "srcPosture": ["healthy", "linux"]},
  ],
  "tests": [
    {"src": "tag:eng", "srcFacts": {"os.version": "12.7", "agent.version": "1.4.2", "disk.encrypted": "true", "firewall.enabled": "true"},
     "accept": ["tag:db:5432"]},
    {"src": "tag:eng", "deny": ["tag:db:5432"], "accept": ["tag:db:icmp"]},
  ],
}`

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// healthyFacts are facts that satisfy postureExample's "healthy".
func healthyFacts() *wire.Facts {
	return &wire.Facts{
		OS:       wire.OSFacts{Name: "debian", Version: "12.7"},
		Disks:    []wire.DiskFacts{{Mount: "/", SizeBytes: 10, Encrypted: yes()}},
		Firewall: wire.FirewallFacts{Enabled: yes()},
		Agent:    "1.4.0",
	}
}

// TestPostureConditions: each kind of fact compares as people mean it,
// and an unreported fact fails its condition.
func TestPostureConditions(t *testing.T) {
	for _, tc := range []struct {
		cond  string
		facts func(f *wire.Facts)
		last  string
		want  bool
	}{
		{"os.version >= 12", nil, "", true},
		{"os.version >= 13", nil, "", false},
		{"os.version > 12", nil, "", true}, // 12.7
		{"os.version == 12.7.0", nil, "", true},
		{"os.version < 12.10", nil, "", true}, // numbers, not text: 7 < 10
		{"os.version >= 24.04", func(f *wire.Facts) { f.OS.Version = "24.10" }, "", true},
		{"os.kernel >= 6.1", func(f *wire.Facts) { f.OS.Kernel = "6.1.0-26-amd64" }, "", true},
		{"os.kernel >= 6.2", func(f *wire.Facts) { f.OS.Kernel = "6.1.0-26-amd64" }, "", false},
		{"agent.version >= 1.4.0", nil, "", true},
		{"agent.version >= 1.4.0", func(f *wire.Facts) { f.Agent = "1.4.0-beta.3" }, "", false}, // a pre-release is older
		{"agent.version >= 1.10.0", func(f *wire.Facts) { f.Agent = "1.9.0" }, "", false},
		{"agent.version >= 1.0.0", func(f *wire.Facts) { f.Agent = "dev" }, "", false},
		{"disk.encrypted", nil, "", true},
		{"disk.encrypted", func(f *wire.Facts) { f.Disks = append(f.Disks, wire.DiskFacts{Mount: "/home", Encrypted: no()}) }, "", false},
		{"disk.encrypted", func(f *wire.Facts) { f.Disks = nil }, "", false}, // not known: fails
		{"disk.encrypted == false", func(f *wire.Facts) { f.Disks = nil }, "", false},
		{"firewall.enabled == false", nil, "", false},
		{"os.name == Debian", nil, "", true}, // names ignore case
		{`os.name != "windows"`, nil, "", true},
		{"cpu.cores >= 4", func(f *wire.Facts) { f.CPU.Cores = 8 }, "", true},
		{"cpu.cores >= 4", nil, "", false}, // not reported
		{"update.failed == false", nil, "", true},
		{"update.failed == false", nil, "ok", true},
		{"update.failed == false", nil, "rolled_back", false},
		{"update.failed", nil, "failed", true},
	} {
		t.Run(tc.cond, func(t *testing.T) {
			c, err := parseCondition(tc.cond)
			if err != nil {
				t.Fatal(err)
			}
			f := healthyFacts()
			if tc.facts != nil {
				tc.facts(f)
			}
			got, why := c.holds(Machine{Facts: f, LastUpdate: tc.last})
			if got != tc.want {
				t.Fatalf("holds = %v (%s), want %v", got, why, tc.want)
			}
			if !got && why == "" {
				t.Fatal("a failing condition says why")
			}
		})
	}
	if ok, why := (condition{key: "os.version", op: ">=", value: "12", kind: kindVersion, text: "os.version >= 12"}).holds(Machine{}); ok || !strings.Contains(why, "not known") {
		t.Fatalf("a machine without facts: %v %q", ok, why)
	}
}

// TestPostureProblems: every mistake in a posture is a positioned problem.
func TestPostureProblems(t *testing.T) {
	for _, tc := range []struct {
		name, text, at, msg string
	}{
		{"unknown fact with a suggestion", `{"postures": {"p": ["os.verison >= 12"]}, "rules": []}`, `"os.verison >= 12"`, "unknown fact \"os.verison\""},
		{"unknown posture in a rule", `{"postures": {"healthy": ["disk.encrypted"]}, "rules": [{"src": ["*"], "dst": ["*"], "srcPosture": ["helthy"]}]}`, `"helthy"`, `unknown posture "helthy": define it in "postures"; did you mean healthy?`},
		{"ordering text", `{"postures": {"p": ["os.name > debian"]}, "rules": []}`, `"os.name > debian"`, "== or != only"},
		{"bool with a word", `{"postures": {"p": ["disk.encrypted == yes"]}, "rules": []}`, `"disk.encrypted == yes"`, "true or false"},
		{"not a version", `{"postures": {"p": ["agent.version >= new"]}, "rules": []}`, `"agent.version >= new"`, "a version such as 1.4.0"},
		{"not a number", `{"postures": {"p": ["cpu.cores >= many"]}, "rules": []}`, `"cpu.cores >= many"`, "whole number"},
		{"no value", `{"postures": {"p": ["os.version >="]}, "rules": []}`, `"os.version >="`, "FACT OP VALUE"},
		{"empty posture", `{"postures": {"p": []}, "rules": []}`, `[]`, "has no conditions"},
		{"bad name", `{"postures": {"Bad Name": ["disk.encrypted"]}, "rules": []}`, `["disk.encrypted"]`, "a posture name may contain only"},
		{"identifying facts are not postures", `{"postures": {"p": ["machine.serial == X1"]}, "rules": []}`, `"machine.serial == X1"`, "unknown fact"},
		{"bad test fact", `{"tags": ["tag:a"], "rules": [], "tests": [{"src": "tag:a", "srcFacts": {"os.colour": "red"}, "deny": ["tag:a:1"]}]}`, `"red"`, `fact "os.colour=red"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.text), nil)
			pe, ok := err.(*Error)
			if !ok || len(pe.Problems) == 0 {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			p := pe.Problems[0]
			off := strings.Index(tc.text, tc.at)
			line, col := position([]byte(tc.text), off)
			if off < 0 || p.Line != line || p.Col != col || !strings.Contains(p.Msg, tc.msg) {
				t.Fatalf("problem = %d:%d %q, want %d:%d (at %s) containing %q", p.Line, p.Col, p.Msg, line, col, tc.at, tc.msg)
			}
		})
	}
}

// TestPosturesInRules: a srcPosture rule admits only sources that have
// one of its postures; the posture is part of the class, so machines
// that differ only in it are told apart, and the filter rules a
// destination enforces carry the postures for its agent to check.
func TestPosturesInRules(t *testing.T) {
	p, err := Parse([]byte(postureExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	good := machine("eng-1", "100.64.0.1", "eng")
	good.Facts = healthyFacts()
	old := machine("eng-2", "100.64.0.2", "eng")
	old.Facts = healthyFacts()
	old.Facts.Agent = "1.3.9"
	bare := machine("eng-3", "100.64.0.3", "eng") // reported nothing
	db := machine("db-1", "100.64.0.9", "db")
	mon := machine("mon-1", "100.64.0.5", "mon")
	mon.Facts = &wire.Facts{OS: wire.OSFacts{Name: "debian"}}

	if p.ClassOf(good) == p.ClassOf(old) {
		t.Fatal("a machine without the posture has the class of one with it")
	}
	older := old
	older.Facts = healthyFacts()
	older.Facts.Agent, older.Facts.OS.Version = "1.0.0", "13"
	if p.ClassOf(old) != p.ClassOf(older) {
		t.Fatal("two machines with the same postures differ in class")
	}
	for _, tc := range []struct {
		src     Machine
		port    uint16
		proto   Proto
		allowed bool
	}{
		{good, 5432, TCP, true},
		{old, 5432, TCP, false},
		{bare, 5432, TCP, false},
		{old, 0, ICMP, true},     // another rule still applies
		{mon, 9100, TCP, true},   // one of two postures is enough
		{good, 9100, TCP, false}, // the posture, not the source
		{mon, 5432, TCP, false},  // the source, not the posture
	} {
		if got := p.Allows(tc.src, db, tc.proto, tc.port); got != tc.allowed {
			t.Errorf("%s → db %v/%d: %v, want %v", tc.src.Name, tc.proto, tc.port, got, tc.allowed)
		}
	}
	if got := p.Held(good); !slices.Equal(got, []string{"healthy", "linux"}) {
		t.Errorf("Held(good) = %v", got)
	}
	if got := p.Held(old); !slices.Equal(got, []string{"linux"}) {
		t.Errorf("Held(old) = %v", got)
	}
	var withPosture int
	for _, fr := range p.Inbound(p.ClassOf(db)) {
		if len(fr.SrcPosture) > 0 {
			withPosture++
			if d := Describe(fr); !strings.Contains(d, "with posture healthy") {
				t.Errorf("Describe = %q", d)
			}
		}
	}
	if withPosture != 2 {
		t.Errorf("db enforces %d rules with postures, want 2", withPosture)
	}

	// Without another rule, a machine without the posture is not a peer.
	text := strings.Replace(postureExample, `{"src": ["*"], "dst": ["*"], "proto": "icmp"},`, "", 1)
	strict, err := Parse([]byte(strings.Replace(text, `, "accept": ["tag:db:icmp"]`, "", 1)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strict.Peers(good, db) || strict.Peers(old, db) {
		t.Errorf("peers: good %v, old %v", strict.Peers(good, db), strict.Peers(old, db))
	}
}

// TestPostureReport says, for the machine page, which postures a machine
// fails and why.
func TestPostureReport(t *testing.T) {
	p, err := Parse([]byte(postureExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := machine("eng-2", "100.64.0.2", "eng")
	m.Facts = healthyFacts()
	m.Facts.Agent = "1.3.9"
	m.Facts.Firewall.Enabled = no()
	got := p.Postures(m)
	if len(got) != 3 || got[0].Name != "healthy" || got[0].Pass || !got[1].Pass || got[2].Pass {
		t.Fatalf("Postures = %+v", got)
	}
	want := []string{"agent.version is 1.3.9; the posture wants agent.version >= 1.4.0", "firewall.enabled is false; the posture wants firewall.enabled"}
	if !slices.Equal(got[0].Reasons, want) {
		t.Errorf("reasons = %q, want %q", got[0].Reasons, want)
	}
}

// TestGivenFacts: `policy test --src-facts` overrides what the agent
// reported, and refuses what no posture can test.
func TestGivenFacts(t *testing.T) {
	p, err := Parse([]byte(postureExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	fleet := []Machine{machine("eng-1", "100.64.0.1", "eng"), machine("db-1", "100.64.0.9", "db")}
	fleet[0].Facts = healthyFacts()
	for _, tc := range []struct {
		facts []string
		want  bool
	}{
		{nil, true},
		{[]string{"os.version=11"}, false},
		{[]string{"agent.version=2.0.0", "os.version=13"}, true},
	} {
		given, err := GivenFacts(tc.facts)
		if err != nil {
			t.Fatal(err)
		}
		i, err := p.CheckRuleGiven("machine:eng-1", "machine:db-1:5432", fleet, given)
		if err != nil || (i >= 0) != tc.want {
			t.Errorf("%v: rule %d, %v; want allowed %v", tc.facts, i, err, tc.want)
		}
	}
	for _, bad := range []string{"os.version", "colour=red", "os.name=\x1b[2J"} {
		if _, err := GivenFacts([]string{bad}); err == nil {
			t.Errorf("GivenFacts(%q) accepted", bad)
		}
	}
}

// last_seen < D holds for a machine the server found seen within D (its
// sweep records it in Machine.Recent), or, in a `policy test`, for a given
// time since it was seen.
func TestLastSeenCondition(t *testing.T) {
	for _, bad := range []string{"last_seen > 10m", "last_seen < 10s", "last_seen < soon", "last_seen", "last_seen < 100000h"} {
		if _, err := parseCondition(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	c, err := parseCondition("last_seen < 1h30m")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    Machine
		want bool
	}{
		{Machine{Recent: []string{"1h30m0s"}}, true},
		{Machine{Recent: []string{"10m0s"}}, false},
		{Machine{}, false},
		{Machine{Given: map[string]string{"last_seen": "5m"}}, true},
		{Machine{Recent: []string{"1h30m0s"}, Given: map[string]string{"last_seen": "2h"}}, false},
	} {
		if got, why := c.holds(tc.m); got != tc.want || !got && why == "" {
			t.Errorf("%+v: %v %q, want %v", tc.m, got, why, tc.want)
		}
	}
	p, err := Parse([]byte(`{"postures": {"a": ["last_seen < 10m"], "b": ["last_seen < 600s", "last_seen < 1h"]}, "rules": []}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.LastSeenWithin(); len(got) != 2 || got[0] != 10*time.Minute || got[1] != time.Hour {
		t.Errorf("LastSeenWithin = %v", got)
	}
	if _, err := GivenFacts([]string{"last_seen=yesterday"}); err == nil {
		t.Error("last_seen=yesterday accepted")
	}
}

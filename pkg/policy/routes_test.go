package policy

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

const routesPolicy = `{
  "tags": ["tag:laptop", "tag:office-gw", "tag:exit", "tag:ops"],
  "hosts": {"nas": "10.20.0.5", "office": "10.20.0.0/16"},
  "autoApprovers": {
    "routes": {"10.20.0.0/16": ["tag:office-gw"], "office": ["machine:gw-9"]},
    "exitNode": ["tag:exit"],
  },
  "rules": [
    {"src": ["tag:laptop"], "dst": ["nas"], "proto": "tcp", "ports": ["80"]},
    {"src": ["tag:laptop"], "dst": ["tag:office-gw"], "ports": ["22"]},
    {"src": ["tag:ops"], "dst": ["*"]},
    {"src": ["tag:ops"], "dst": ["autogroup:internet"], "proto": "tcp", "ports": ["443"]},
  ],
  "tests": [
    {"src": "tag:laptop", "accept": ["nas:80", "10.20.0.5:80"], "deny": ["nas:22", "10.20.0.6:80", "autogroup:internet:443"]},
    {"src": "tag:ops", "accept": ["10.20.9.9:22", "autogroup:internet:443", "8.8.8.8:443"], "deny": ["8.8.8.8:80"]},
  ],
}`

// A route is a destination like any other: the rules that cover it make
// the router and the client peers, tell the client what to install and
// the router what to forward — and nothing else.
func TestRoutesUnderThePolicy(t *testing.T) {
	p, err := Parse([]byte(routesPolicy), nil)
	if err != nil {
		t.Fatal(err)
	}
	office := netip.MustParsePrefix("10.20.0.0/16")
	laptop := machine("laptop-1", "100.64.0.1", "laptop")
	ops := machine("ops-1", "100.64.0.2", "ops")
	other := machine("other", "100.64.0.3")
	gw := machine("gw-1", "100.64.0.10", "office-gw")
	gw.Routes = []netip.Prefix{office}
	bare := machine("gw-2", "100.64.0.11") // routes, but no tag: only ops' "*" covers it
	bare.Routes = []netip.Prefix{office}
	exit := machine("exit-1", "100.64.0.12", "exit")
	exit.ExitNode = true

	t.Run("peers", func(t *testing.T) {
		for _, tc := range []struct {
			a, b Machine
			want bool
		}{
			{laptop, gw, true}, {laptop, bare, true}, {ops, bare, true}, {ops, exit, true},
			{laptop, exit, false}, {other, bare, false},
		} {
			if got := p.Peers(tc.a, tc.b); got != tc.want {
				t.Errorf("peers(%s, %s) = %v, want %v", tc.a.Name, tc.b.Name, got, tc.want)
			}
		}
	})
	t.Run("classes", func(t *testing.T) {
		if c := p.ClassOf(laptop); strings.Contains(string(c), "|") {
			t.Errorf("a machine without routes has a route part: %q", c)
		}
		if c := p.ClassOf(gw); !strings.Contains(string(c), "|") {
			t.Errorf("a router's class has no route part: %q", c)
		}
	})
	t.Run("access", func(t *testing.T) {
		for _, tc := range []struct {
			m      Machine
			route  netip.Prefix
			grants bool
		}{
			{laptop, office, true},
			{laptop, netip.MustParsePrefix("10.30.0.0/16"), false},
			{laptop, netip.MustParsePrefix("0.0.0.0/0"), false},
			{ops, netip.MustParsePrefix("10.30.0.0/16"), true},
			{ops, netip.MustParsePrefix("0.0.0.0/0"), true},
			{ops, netip.MustParsePrefix("::/0"), true},
			{other, office, false},
		} {
			acc := p.RouteAccess(p.ClassOf(tc.m))
			if got := Grants(acc, tc.route); got != tc.grants {
				t.Errorf("%s (access %v) may use %s: %v, want %v", tc.m.Name, acc, tc.route, got, tc.grants)
			}
		}
		if !Grants(nil, office) {
			t.Error("without a policy every route is granted")
		}
	})
	t.Run("router filter", func(t *testing.T) {
		rules := p.Inbound(p.ClassOf(gw))
		var fwd, own []string
		for _, r := range rules {
			if len(r.Dst) > 0 {
				fwd = append(fwd, strings.Join(r.Src, ",")+">"+strings.Join(r.Dst, ",")+":"+strings.Join(r.Ports, ","))
			} else {
				own = append(own, strings.Join(r.Src, ",")+":"+strings.Join(r.Ports, ","))
			}
		}
		wantFwd := []string{"tag:laptop>10.20.0.5/32:80", "tag:ops>routes:"}
		wantOwn := []string{"tag:laptop:22", "tag:ops:"}
		if !slices.Equal(fwd, wantFwd) || !slices.Equal(own, wantOwn) {
			t.Errorf("gw-1 forwards %v (want %v), admits %v (want %v)", fwd, wantFwd, own, wantOwn)
		}
		var exitFwd []string
		for _, r := range p.Inbound(p.ClassOf(exit)) {
			exitFwd = append(exitFwd, strings.Join(r.Dst, ","))
		}
		if !slices.Contains(exitFwd, Internet) {
			t.Errorf("the exit node forwards %v, want autogroup:internet for ops", exitFwd)
		}
	})
	t.Run("auto approvers", func(t *testing.T) {
		gw9 := machine("gw-9", "100.64.0.19")
		for _, tc := range []struct {
			m     Machine
			route string
			want  bool
		}{
			{gw, "10.20.0.0/16", true}, {gw, "10.20.5.0/24", true}, {gw, "10.0.0.0/8", false},
			{gw, "10.21.0.0/16", false}, {bare, "10.20.0.0/16", false}, {gw9, "10.20.0.0/24", true},
		} {
			if got := p.AutoApproves(tc.m, netip.MustParsePrefix(tc.route)); got != tc.want {
				t.Errorf("auto-approve %s for %s = %v, want %v", tc.route, tc.m.Name, got, tc.want)
			}
		}
		if !p.AutoApprovesExitNode(exit) || p.AutoApprovesExitNode(gw) {
			t.Error("exitNode approves tag:exit only")
		}
	})
}

func TestRoutePolicyProblems(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"rules": [{"src": ["autogroup:internet"], "dst": ["*"]}]}`, "is a destination"},
		{`{"hosts": {"a:b": "10.0.0.1"}, "rules": []}`, "has no ':'"},
		{`{"hosts": {"nas": "10.0.0.1/8"}, "rules": []}`, "host bits"},
		{`{"hosts": {"NAS": "10.0.0.1"}, "rules": []}`, "lowercase"},
		{`{"autoApprovers": {"routes": {"10.0.0.0/8": ["tag:nope"]}}, "rules": []}`, "unknown tag"},
		{`{"autoApprovers": {"routes": {"0.0.0.0/0": ["machine:x"]}}, "rules": []}`, "use \"exitNode\""},
		{`{"autoApprovers": {"routes": {"10.0.0.0/8": ["*"]}}, "rules": []}`, "cannot approve"},
		{`{"autoApprovers": {"routes": {"banana": ["machine:x"]}}, "rules": []}`, "not a range"},
		{`{"autoApprovers": {"exitNode": ["10.0.0.1"]}, "rules": []}`, "are approved for"},
		{`{"relays": ["*"], "rules": []}`, "cannot relay"},
		{`{"relays": ["10.0.0.1"], "rules": []}`, "relays are named for"},
		{`{"relays": ["tag:nope"], "rules": []}`, "unknown tag"},
		{`{"rules": [{"src": ["*"], "dst": ["nas"]}]}`, "a name from \"hosts\""},
		{`{"rules": [{"src": ["*"], "dst": ["*"]}], "tests": [{"src": "100.64.0.1", "accept": ["autogroup:internet:443"]}]}`, "cannot reach autogroup:internet:443"},
	} {
		_, err := Parse([]byte(tc.doc), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestRelays: "relays" names machines by tag, group or machine; being a
// relay grants no reach (classes are not split by it).
func TestRelays(t *testing.T) {
	doc := `{"tags": ["tag:relay", "tag:web"], "relays": ["tag:relay", "machine:edge"],
		"rules": [{"src": ["tag:web"], "dst": ["tag:web"]}]}`
	p, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    Machine
		want bool
	}{
		{Machine{Name: "r1", Tags: []string{"relay"}}, true},
		{Machine{Name: "edge"}, true},
		{Machine{Name: "w1", Tags: []string{"web"}}, false},
		{Machine{Name: "other"}, false},
	} {
		if got := p.IsRelay(tc.m); got != tc.want {
			t.Errorf("IsRelay(%s) = %v, want %v", tc.m.Name, got, tc.want)
		}
	}
	if !p.HasRelays() {
		t.Error("HasRelays is false")
	}
	relay, plain := Machine{Name: "r1", Tags: []string{"relay"}}, Machine{Name: "other"}
	if p.ClassOf(relay) != p.ClassOf(plain) {
		t.Error("being a relay changed the machine's class")
	}
}

func TestIsInternet(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860::8888": true, "198.51.100.1": true,
		"10.1.2.3": false, "192.168.1.1": false, "172.16.0.1": false, "100.64.0.1": false, "100.127.255.255": false,
		"127.0.0.1": false, "169.254.1.1": false, "224.0.0.1": false, "fd00::1": false, "fe80::1": false, "::": false, "::ffff:10.0.0.1": false,
	} {
		if got := IsInternet(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsInternet(%s) = %v", s, got)
		}
	}
}

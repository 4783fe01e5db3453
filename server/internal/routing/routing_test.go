package routing

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var office = netip.MustParsePrefix("10.20.0.0/16")

func TestStateAndEnabled(t *testing.T) {
	pol, err := policy.Parse([]byte(`{"tags": ["tag:gw", "tag:exit"], "autoApprovers": {"routes": {"10.0.0.0/8": ["tag:gw"]}, "exitNode": ["tag:exit"]}, "rules": []}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := func(tags []string, mr wire.MachineRoutes) wire.Machine {
		return wire.Machine{ID: "m1", Name: "gw-1", Tags: tags, State: wire.MachineActive, IPv4: "100.64.0.1", Routes: &mr}
	}
	adv := []string{"0.0.0.0/0", "10.20.0.0/16", "192.168.9.0/24", "::/0"}
	for _, tc := range []struct {
		name    string
		m       wire.Machine
		pol     *policy.Policy
		states  map[string]string
		subnets []string
		exit    bool
	}{
		{"pending without anyone's approval", m(nil, wire.MachineRoutes{Advertised: adv}), pol,
			map[string]string{"10.20.0.0/16": wire.RoutePending, "0.0.0.0/0": wire.RoutePending}, nil, false},
		{"an admin's approval", m(nil, wire.MachineRoutes{Advertised: adv, Approved: []string{"192.168.9.0/24"}}), nil,
			map[string]string{"192.168.9.0/24": wire.RouteApproved}, []string{"192.168.9.0/24"}, false},
		{"the policy approves by tag", m([]string{"gw", "exit"}, wire.MachineRoutes{Advertised: adv}), pol,
			map[string]string{"10.20.0.0/16": wire.RouteAutoApproved, "192.168.9.0/24": wire.RoutePending, "::/0": wire.RouteAutoApproved}, []string{"10.20.0.0/16"}, true},
		{"a rejection wins over the policy", m([]string{"gw"}, wire.MachineRoutes{Advertised: adv, Rejected: []string{"10.20.0.0/16"}}), pol,
			map[string]string{"10.20.0.0/16": wire.RouteRejected}, nil, false},
		{"half an exit node is none", m(nil, wire.MachineRoutes{Advertised: adv, Approved: []string{"0.0.0.0/0"}}), nil,
			map[string]string{"0.0.0.0/0": wire.RouteApproved, "::/0": wire.RoutePending}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for p, want := range tc.states {
				if got := State(tc.m, tc.pol, p); got != want {
					t.Errorf("%s: %s, want %s", p, got, want)
				}
			}
			subnets, exit := Enabled(tc.m, tc.pol)
			var got []string
			for _, p := range subnets {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.subnets) || exit != tc.exit {
				t.Errorf("enabled %v exit %v, want %v %v", got, exit, tc.subnets, tc.exit)
			}
		})
	}
	revoked := m(nil, wire.MachineRoutes{Advertised: adv, Approved: adv})
	revoked.State = wire.MachineRevoked
	if s, e := Enabled(revoked, nil); s != nil || e {
		t.Error("a revoked machine carries routes")
	}
}

func TestBuildPrimaries(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := func(id string, age int, down bool) Router {
		return Router{ID: id, Subnets: []netip.Prefix{office}, Since: t0.Add(time.Duration(age) * time.Hour), Down: down}
	}
	for _, tc := range []struct {
		name    string
		routers []Router
		prev    *Table
		want    []string
	}{
		{"the first enrolled is primary", []Router{r("b", 2, false), r("a", 3, false), r("c", 1, false)}, nil, []string{"c", "b", "a"}},
		{"a router that is down goes last", []Router{r("b", 2, false), r("c", 1, true)}, nil, []string{"b", "c"}},
		{"every router down: still listed", []Router{r("b", 2, true), r("c", 1, true)}, nil, []string{"c", "b"}},
		{"a returning router does not take the prefix back",
			[]Router{r("b", 2, false), r("c", 1, false)}, Build([]Router{r("b", 2, false), r("c", 1, true)}, nil), []string{"b", "c"}},
		{"…until its replacement goes",
			[]Router{r("b", 2, true), r("c", 1, false)}, Build([]Router{r("b", 2, false), r("c", 1, false)}, Build([]Router{r("b", 2, false), r("c", 1, true)}, nil)), []string{"c", "b"}},
		{"a router enrolled earlier and newly approved becomes primary (no history of being down)",
			[]Router{r("b", 2, false), r("c", 1, false)}, Build([]Router{r("b", 2, false)}, nil), []string{"c", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Build(tc.routers, tc.prev).All()[office]
			if !slices.Equal(got, tc.want) {
				t.Fatalf("%v, want %v", got, tc.want)
			}
		})
	}
}

func TestTableFor(t *testing.T) {
	exit := Router{ID: "x", Exit: true}
	tb := Build([]Router{{ID: "gw", Subnets: []netip.Prefix{office}}, {ID: "gw2", Subnets: []netip.Prefix{office, netip.MustParsePrefix("10.30.0.0/16")}}, exit}, nil)
	prefixes := func(rs []wire.SelfRoute) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Prefix)
		}
		return out
	}
	if got := prefixes(tb.For("me", nil)); !slices.Equal(got, []string{"0.0.0.0/0", "10.20.0.0/16", "10.30.0.0/16", "::/0"}) {
		t.Errorf("without a policy: %v", got)
	}
	if got := prefixes(tb.For("me", []string{"10.20.5.0/24"})); !slices.Equal(got, []string{"10.20.0.0/16"}) {
		t.Errorf("granted a part of one: %v", got)
	}
	if got := prefixes(tb.For("me", []string{policy.Internet})); !slices.Equal(got, []string{"0.0.0.0/0", "::/0"}) {
		t.Errorf("the internet only: %v", got)
	}
	if got := prefixes(tb.For("gw", nil)); slices.Contains(got, "10.20.0.0/16") {
		t.Errorf("a router routes its own prefix through its peer: %v", got)
	}
	if tb.Equal(Build([]Router{{ID: "gw", Subnets: []netip.Prefix{office}}}, nil)) || !tb.Equal(tb) {
		t.Error("Equal")
	}
}

package wire

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestValidateRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		adv  RoutesAdvert
		want string // the set, or the error's words
		ok   bool
	}{
		{"two subnets, sorted", RoutesAdvert{Routes: []string{"fd00:20::/64", "10.20.0.0/16"}}, "10.20.0.0/16 fd00:20::/64", true},
		{"an exit node adds its default routes", RoutesAdvert{Routes: []string{"10.20.0.0/16"}, ExitNode: true}, "0.0.0.0/0 10.20.0.0/16 ::/0", true},
		{"nothing", RoutesAdvert{}, "", true},
		{"host bits", RoutesAdvert{Routes: []string{"10.20.0.1/16"}}, "the range is 10.20.0.0/16", false},
		{"multicast", RoutesAdvert{Routes: []string{"224.0.0.0/4"}}, "multicast", false},
		{"link-local", RoutesAdvert{Routes: []string{"169.254.0.0/16"}}, "link-local", false},
		{"link-local v6", RoutesAdvert{Routes: []string{"fe80::/64"}}, "link-local", false},
		{"loopback", RoutesAdvert{Routes: []string{"127.0.0.0/8"}}, "loopback", false},
		{"a default route", RoutesAdvert{Routes: []string{"0.0.0.0/0"}}, "--advertise-exit-node", false},
		{"overlap", RoutesAdvert{Routes: []string{"10.0.0.0/8", "10.20.0.0/16"}}, "overlap", false},
		{"a duplicate", RoutesAdvert{Routes: []string{"10.0.0.0/8", "10.0.0.0/8"}}, "overlap", false},
		{"not a range", RoutesAdvert{Routes: []string{"office"}}, "not a range", false},
		{"a bare address", RoutesAdvert{Routes: []string{"10.0.0.1"}}, "not a range", false},
		{"a zone", RoutesAdvert{Routes: []string{"fd00::%eth0/64"}}, "", false},
		{"v4-mapped", RoutesAdvert{Routes: []string{"::ffff:10.0.0.0/104"}}, "plainly", false},
		{"too long", RoutesAdvert{Routes: []string{strings.Repeat("1", 100)}}, "too long", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateRoutes(tc.adv)
			if tc.ok {
				if err != nil || strings.Join(got, " ") != tc.want {
					t.Fatalf("%v, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || ErrorCode(err) != CodeInvalidRoute || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, %v; want invalid_route with %q", got, err, tc.want)
			}
		})
	}
	many := make([]string, MaxRoutes+1)
	for i := range many {
		many[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24).String()
	}
	if _, err := ValidateRoutes(RoutesAdvert{Routes: many}); ErrorCode(err) != CodeInvalidRoute {
		t.Fatalf("%d routes: %v", len(many), err)
	}
}

func TestDecideRoutes(t *testing.T) {
	mr := MachineRoutes{Advertised: []string{"0.0.0.0/0", "10.20.0.0/16", "10.30.0.0/16", "::/0"}}
	a, names, err := mr.Decide(RouteDecision{Routes: []string{"10.20.0.0/16"}}, true)
	if err != nil || !slices.Equal(a.Approved, []string{"10.20.0.0/16"}) || !slices.Equal(names, []string{"10.20.0.0/16"}) {
		t.Fatalf("approve one: %+v %v %v", a, names, err)
	}
	r, _, err := a.Decide(RouteDecision{ExitNode: true}, false)
	if err != nil || !slices.Equal(r.Rejected, []string{"0.0.0.0/0", "::/0"}) || !slices.Equal(r.Approved, a.Approved) {
		t.Fatalf("reject the exit node: %+v %v", r, err)
	}
	all, _, err := r.Decide(RouteDecision{}, true)
	if err != nil || len(all.Approved) != 4 || len(all.Rejected) != 0 {
		t.Fatalf("approve all: %+v %v", all, err)
	}
	for _, d := range []RouteDecision{{Routes: []string{"10.40.0.0/16"}}, {Routes: []string{"0.0.0.0/0"}}, {Routes: []string{"10.20.0.1/16"}}} {
		if _, _, err := mr.Decide(d, true); ErrorCode(err) != CodeInvalidRoute {
			t.Errorf("%+v: %v, want invalid_route", d, err)
		}
	}
	if _, _, err := (MachineRoutes{}).Decide(RouteDecision{}, true); ErrorCode(err) != CodeInvalidRoute {
		t.Errorf("deciding a machine without routes: %v", err)
	}
}

// Whatever an agent sends, an accepted advertisement is a sorted set of
// masked, routable, non-overlapping ranges.
func FuzzValidateRoutes(f *testing.F) {
	f.Add("10.20.0.0/16", "fd00:20::/64", false)
	f.Add("10.20.0.1/16", "0.0.0.0/0", true)
	f.Add("224.0.0.0/4", "::ffff:1.2.3.4/128", false)
	f.Fuzz(func(t *testing.T, a, b string, exit bool) {
		got, err := ValidateRoutes(RoutesAdvert{Routes: []string{a, b}, ExitNode: exit})
		if err != nil {
			if ErrorCode(err) != CodeInvalidRoute {
				t.Fatalf("%q %q: %v without invalid_route", a, b, err)
			}
			return
		}
		if !slices.IsSorted(got) {
			t.Fatalf("not sorted: %v", got)
		}
		var ps []netip.Prefix
		for _, s := range got {
			p, err := netip.ParsePrefix(s)
			if err != nil || p.Masked() != p || p.String() != s {
				t.Fatalf("%q in %v", s, got)
			}
			if p.Bits() > 0 {
				for _, q := range ps {
					if q.Bits() > 0 && q.Overlaps(p) {
						t.Fatalf("%v overlap", got)
					}
				}
			}
			ps = append(ps, p)
		}
	})
}

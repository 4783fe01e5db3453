package routes

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func TestPlan(t *testing.T) {
	peers := map[string]wire.Peer{
		"gw1":  {ID: "gw1", Name: "office-gw-1", IPv4: "100.64.0.10"},
		"gw2":  {ID: "gw2", Name: "office-gw-2", IPv4: "100.64.0.11"},
		"exit": {ID: "exit", Name: "exit-1", IPv4: "100.64.0.12"},
	}
	self := &wire.Self{Routes: []wire.SelfRoute{
		{Prefix: "10.20.0.0/16", Via: []string{"gw1", "gw2"}},
		{Prefix: "192.168.1.0/24", Via: []string{"gw2"}},
		{Prefix: "203.0.113.0/24", Via: []string{"gw1"}},
		{Prefix: "0.0.0.0/0", Via: []string{"exit"}},
		{Prefix: "::/0", Via: []string{"exit"}},
	}}
	mine := netip.MustParsePrefix("192.168.1.0/24") // this machine's own LAN
	env := func(down ...string) Env {
		return Env{
			Peer:     func(id string) (wire.Peer, bool) { p, ok := peers[id]; return p, ok },
			Down:     func(id string) bool { return slices.Contains(down, id) },
			Existing: func(p netip.Prefix) bool { return p == mine },
			Reserved: []netip.Addr{netip.MustParseAddr("203.0.113.7")},
		}
	}
	type want struct{ via, skipped string }
	for _, tc := range []struct {
		name string
		env  Env
		o    Options
		want map[string]want
	}{
		{"defaults", env(), Options{}, map[string]want{
			"10.20.0.0/16":   {via: "gw1"},
			"192.168.1.0/24": {skipped: "already routes it"},
			"203.0.113.0/24": {skipped: "server's address"},
			"0.0.0.0/0":      {skipped: "no exit node chosen"},
			"::/0":           {skipped: "no exit node chosen"},
		}},
		{"the primary is down: the standby", env("gw1"), Options{}, map[string]want{
			"10.20.0.0/16": {via: "gw2"},
		}},
		{"every carrier down: the primary still", env("gw1", "gw2"), Options{}, map[string]want{
			"10.20.0.0/16": {via: "gw1"},
		}},
		{"accept routes over the machine's own", env(), Options{Accept: true}, map[string]want{
			"192.168.1.0/24": {via: "gw2"},
			"203.0.113.0/24": {skipped: "server's address"}, // never, even accepted
		}},
		{"an exit node by name", env(), Options{ExitNode: "exit-1"}, map[string]want{
			"0.0.0.0/0": {via: "exit"}, "::/0": {via: "exit"},
		}},
		{"an exit node by address", env(), Options{ExitNode: "100.64.0.12"}, map[string]want{
			"0.0.0.0/0": {via: "exit"},
		}},
		{"a machine that is not an exit node", env(), Options{ExitNode: "office-gw-1"}, map[string]want{
			"0.0.0.0/0": {skipped: "not the chosen exit node"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := Plan(self, tc.env, tc.o)
			got := map[string]Route{}
			for _, r := range rs {
				got[r.Prefix.String()] = r
			}
			for p, w := range tc.want {
				r, ok := got[p]
				switch {
				case !ok:
					t.Errorf("%s not in the plan", p)
				case w.via != r.Via:
					t.Errorf("%s via %q (skipped %q), want %q", p, r.Via, r.Skipped, w.via)
				case w.skipped != "" && !strings.Contains(r.Skipped, w.skipped):
					t.Errorf("%s skipped %q, want %q", p, r.Skipped, w.skipped)
				case w.skipped == "" && r.Skipped != "":
					t.Errorf("%s skipped: %s", p, r.Skipped)
				}
			}
			by := ByPeer(rs)
			for id, ps := range by {
				for _, p := range ps {
					if got[p.String()].Via != id {
						t.Errorf("ByPeer puts %s on %s", p, id)
					}
				}
			}
			if n := len(Installed(rs)); n > countInstalled(rs) {
				t.Error("Installed disagrees with the plan")
			}
		})
	}
	if Plan(nil, env(), Options{}) != nil {
		t.Error("a plan without Self")
	}
	rs := Plan(self, env(), Options{ExitNode: "exit-1"})
	if ExitVia(rs) != "exit" || len(ByPeer(rs)["exit"]) != 2 {
		t.Errorf("exit via %q, the exit peer carries %v", ExitVia(rs), ByPeer(rs)["exit"])
	}
	for _, p := range Installed(rs) {
		if p.Bits() == 0 {
			t.Errorf("a default route among the OS routes: %s", p)
		}
	}
}

func countInstalled(rs []Route) int {
	n := 0
	for _, r := range rs {
		if r.Via != "" && r.Skipped == "" {
			n++
		}
	}
	return n
}

// BenchmarkPlan1000Routes plans a map of 1,000 routes on 200 routers (2
// each, primary and standby): the agent's work when its routes change,
// and what the plan keeps.
//
//	go test -run '^$' -bench Plan1000 -benchmem ./agent/internal/routes/
func BenchmarkPlan1000Routes(b *testing.B) {
	peers := map[string]wire.Peer{}
	for i := range 200 {
		id := fmt.Sprintf("gw%03d", i)
		peers[id] = wire.Peer{ID: id, Name: "router-" + id}
	}
	self := &wire.Self{}
	for i := range 1000 {
		self.Routes = append(self.Routes, wire.SelfRoute{Prefix: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256),
			Via: []string{fmt.Sprintf("gw%03d", i%200), fmt.Sprintf("gw%03d", (i+1)%200)}})
	}
	env := Env{Peer: func(id string) (wire.Peer, bool) { p, ok := peers[id]; return p, ok }}
	b.ReportAllocs()
	var rs []Route
	for b.Loop() {
		rs = Plan(self, env, Options{})
		_ = ByPeer(rs)
	}
	if len(Installed(rs)) != 1000 {
		b.Fatalf("%d installed", len(Installed(rs)))
	}
}

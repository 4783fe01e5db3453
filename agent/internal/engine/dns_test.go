package engine

import (
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Only maps that change names rebuild the resolver's zone: an endpoint
// move, the most common delta, does not.
func TestNamesMove(t *testing.T) {
	before := map[string]wire.Peer{"m1": {ID: "m1", Name: "web", IPv4: "100.64.0.1", IPv6: "fd00::1", Endpoints: []string{"192.0.2.1:51820"}}}
	moved := wire.Peer{ID: "m1", Name: "web", IPv4: "100.64.0.1", IPv6: "fd00::1", Endpoints: []string{"198.51.100.7:40000"}}
	renamed := moved
	renamed.Name = "web-2"
	for name, tc := range map[string]struct {
		nm   wire.NetMap
		want bool
	}{
		"endpoint moved": {wire.NetMap{Changed: []wire.Peer{moved}}, false},
		"unchanged":      {wire.NetMap{Unchanged: true}, false},
		"renamed":        {wire.NetMap{Changed: []wire.Peer{renamed}}, true},
		"added":          {wire.NetMap{Added: []wire.Peer{{ID: "m2", Name: "db"}}}, true},
		"removed":        {wire.NetMap{Removed: []string{"m1"}}, true},
		"self":           {wire.NetMap{Self: &wire.Self{DNSDomain: "fleet.internal"}}, true},
		"full":           {wire.NetMap{Full: true, Peers: []wire.Peer{}}, true},
		"changed, new":   {wire.NetMap{Changed: []wire.Peer{{ID: "m9", Name: "x"}}}, true},
	} {
		if got := namesMove(before, tc.nm); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

package wire

import (
	"errors"
	"reflect"
	"testing"
)

func ids(v View) []string {
	out := []string{}
	for _, p := range v.Full().Peers {
		out = append(out, p.ID+"="+p.PublicKey)
	}
	return out
}

func TestViewApply(t *testing.T) {
	p := func(id, key string) Peer { return Peer{ID: id, PublicKey: key} }
	self := &Self{IPv4: "100.64.0.1"}
	for _, tc := range []struct {
		name  string
		start View
		nm    NetMap
		want  []string
		ver   uint64
	}{
		{"full on empty", View{}, NetMap{Version: 3, Full: true, Self: self, Peers: []Peer{p("b", "2"), p("a", "1")}}, []string{"a=1", "b=2"}, 3},
		{"full replaces", View{Peers: map[string]Peer{"x": p("x", "9")}}, NetMap{Version: 4, Full: true, Peers: []Peer{p("a", "1")}}, []string{"a=1"}, 4},
		{"full with zero peers empties", View{Peers: map[string]Peer{"x": p("x", "9")}}, NetMap{Version: 5, Full: true}, []string{}, 5},
		{"unchanged keeps peers", View{Peers: map[string]Peer{"x": p("x", "9")}}, NetMap{Version: 6, Unchanged: true}, []string{"x=9"}, 6},
		{"delta adds, changes, removes", View{Peers: map[string]Peer{"x": p("x", "9"), "y": p("y", "8"), "z": p("z", "7")}},
			NetMap{Version: 7, Added: []Peer{p("a", "1")}, Changed: []Peer{p("y", "0")}, Removed: []string{"z", "unknown"}}, []string{"a=1", "x=9", "y=0"}, 7},
		{"delta on a fresh view", View{}, NetMap{Version: 2, Added: []Peer{p("a", "1")}}, []string{"a=1"}, 2},
		{"removal wins over an add of the same id", View{}, NetMap{Version: 2, Added: []Peer{p("a", "1")}, Removed: []string{"a"}}, []string{}, 2},
	} {
		v := tc.start
		if err := v.Apply(tc.nm); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := ids(v); !reflect.DeepEqual(got, tc.want) || v.Version != tc.ver {
			t.Errorf("%s: peers %v version %d, want %v version %d", tc.name, got, v.Version, tc.want, tc.ver)
		}
	}
	v := View{}
	if err := v.Apply(NetMap{Unchanged: true, Added: []Peer{p("a", "1")}}); !errors.Is(err, ErrMalformedMap) {
		t.Errorf("unchanged map with peers: %v, want ErrMalformedMap", err)
	}
}

func TestViewCloneIsIndependent(t *testing.T) {
	v := View{}
	v.Apply(NetMap{Version: 1, Full: true, Peers: []Peer{{ID: "a"}}})
	c := v.Clone()
	c.Apply(NetMap{Version: 2, Removed: []string{"a"}})
	if len(v.Peers) != 1 || v.Version != 1 {
		t.Fatalf("clone shares state with the original: %+v", v)
	}
}

package mapview

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func peer(id, key string) wire.Peer { return wire.Peer{ID: id, Name: id, PublicKey: key} }

// Apply returns what a device needs to catch up: every old peer for a full
// map, only the named ones (as they were) for a delta.
func TestApplyReturnsWhatTheMapChanged(t *testing.T) {
	start := wire.NetMap{Version: 1, Full: true, Self: &wire.Self{ID: "me"}, Peers: []wire.Peer{peer("a", "ka"), peer("b", "kb"), peer("c", "kc")}}
	for _, tc := range []struct {
		name       string
		nm         wire.NetMap
		whole      bool
		before     []string // IDs
		beforeKeyB string
		after      []string
		version    uint64
		err        bool
	}{
		{name: "full", nm: wire.NetMap{Version: 2, Full: true, Peers: []wire.Peer{peer("d", "kd")}}, whole: true, before: []string{"a", "b", "c"}, after: []string{"d"}, version: 2},
		{name: "delta", nm: wire.NetMap{Version: 2, Changed: []wire.Peer{peer("b", "kb2")}, Removed: []string{"c"}, Added: []wire.Peer{peer("e", "ke")}},
			before: []string{"b", "c"}, beforeKeyB: "kb", after: []string{"a", "b", "e"}, version: 2},
		{name: "unchanged", nm: wire.NetMap{Version: 5, Unchanged: true}, after: []string{"a", "b", "c"}, version: 5},
		{name: "malformed", nm: wire.NetMap{Version: 9, Unchanged: true, Added: []wire.Peer{peer("x", "kx")}}, err: true, after: []string{"a", "b", "c"}, version: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v View
			if _, whole, err := v.Apply(start); err != nil || !whole {
				t.Fatalf("first map: whole %v, %v", whole, err)
			}
			before, whole, err := v.Apply(tc.nm)
			if (err != nil) != tc.err || whole != tc.whole {
				t.Fatalf("whole %v err %v", whole, err)
			}
			if got := slices.Sorted(maps.Keys(before)); !slices.Equal(got, tc.before) && len(got)+len(tc.before) > 0 {
				t.Errorf("before %v, want %v", got, tc.before)
			}
			if tc.beforeKeyB != "" && before["b"].PublicKey != tc.beforeKeyB {
				t.Errorf("before holds b as %+v, want its old key", before["b"])
			}
			var after []string
			v.Read(func(w *wire.View) { after = slices.Sorted(maps.Keys(w.Peers)) })
			if !slices.Equal(after, tc.after) || v.Version() != tc.version || v.Len() != len(tc.after) || v.Self().ID != "me" {
				t.Errorf("after: %v version %d, want %v version %d", after, v.Version(), tc.after, tc.version)
			}
		})
	}
}

// Readers on other goroutines (the tunnel's) see a whole map, never one
// half applied; -race checks the locking.
func TestReadersWhileApplying(t *testing.T) {
	var v View
	v.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{peer("a", "ka")}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v.Read(func(w *wire.View) {
					// Every delta below adds and removes one peer together.
					if len(w.Peers) != 1 {
						t.Errorf("a reader saw %d peers", len(w.Peers))
					}
				})
				v.Peer("a")
				_ = v.Full()
			}
		}()
	}
	for i := range 2000 {
		prev, next := "a", "b"
		if i%2 == 1 {
			prev, next = "b", "a"
		}
		if _, _, err := v.Apply(wire.NetMap{Version: uint64(i + 2), Added: []wire.Peer{peer(next, "k"+next)}, Removed: []string{prev}}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkFullMapRetained reports the heap one view of a 5,000-peer map
// keeps (the map's peer records; their strings are shared with the
// decoded map): what the agent saved when the tunnel stopped keeping a
// copy of its own.
//
//	go test -run '^$' -bench FullMapRetained ./agent/internal/mapview/
func BenchmarkFullMapRetained(b *testing.B) {
	const n = 5000
	peers := make([]wire.Peer, n)
	for i := range peers {
		peers[i] = wire.Peer{ID: fmt.Sprintf("m_%06d", i), Name: fmt.Sprintf("host-%d", i),
			PublicKey:  fmt.Sprintf("%043d=", i),
			AllowedIPs: []string{netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}).String() + "/32"}}
		if i%2 == 0 {
			peers[i].Endpoints = []string{fmt.Sprintf("192.0.2.%d:51820", i%250+1)}
		}
	}
	views := make([]*View, b.N)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range views {
		views[i] = &View{}
		if _, _, err := views[i].Apply(wire.NetMap{Version: 1, Full: true, Peers: peers}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(n*b.N), "retained-B/peer")
	runtime.KeepAlive(views)
}

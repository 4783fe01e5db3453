package routes

import (
	"testing"
	"time"
)

func TestLiveness(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type obs struct {
		ms      int
		tx, rx  int64
		changed bool
		down    bool
	}
	for _, tc := range []struct {
		name string
		obs  []obs
	}{
		{"answers: up", []obs{{0, 0, 0, false, false}, {1000, 10, 10, false, false}, {2500, 20, 20, false, false}, {5000, 30, 30, false, false}}},
		{"idle: up however long", []obs{{0, 5, 5, false, false}, {10000, 5, 5, false, false}}},
		{"answered, then sends and hears nothing: down after the silence", []obs{{0, 5, 5, false, false}, {100, 6, 6, false, false}, {500, 7, 6, false, false}, {1500, 9, 6, false, false}, {2600, 12, 6, true, true}, {3000, 13, 6, false, true}}},
		{"and back when it answers", []obs{{0, 5, 5, false, false}, {100, 6, 6, false, false}, {500, 7, 6, false, false}, {2600, 9, 6, true, true}, {3000, 10, 7, true, false}}},
		{"never answered yet: the first contact's longer wait", []obs{{0, 5, 5, false, false}, {500, 6, 5, false, false}, {2600, 9, 5, false, false}, {5000, 12, 5, false, false}, {6600, 13, 5, true, true}}},
		{"a first answer after 2.3 s keeps it up", []obs{{0, 5, 5, false, false}, {500, 6, 5, false, false}, {2300, 9, 6, false, false}, {3000, 12, 8, false, false}}},
		{"a late send after a long quiet: the silence counts from it", []obs{{0, 5, 5, false, false}, {100, 6, 6, false, false}, {9000, 7, 6, false, false}, {10000, 8, 6, false, false}, {11100, 9, 6, true, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l Liveness
			for _, o := range tc.obs {
				if got := l.Observe("gw", o.tx, o.rx, at(o.ms)); got != o.changed {
					t.Fatalf("at %d ms: changed %v, want %v", o.ms, got, o.changed)
				}
				if l.Down("gw") != o.down {
					t.Fatalf("at %d ms: down %v, want %v", o.ms, l.Down("gw"), o.down)
				}
			}
		})
	}
	var l Liveness
	l.Observe("a", 0, 0, t0)
	l.Forget(map[string]bool{})
	if len(l.peers) != 0 || l.Down("a") {
		t.Error("Forget")
	}
}

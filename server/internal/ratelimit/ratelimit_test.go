package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// Each key has its own bucket: the burst passes, the next is refused,
// and the rate refills it.
func TestPerKeyBuckets(t *testing.T) {
	l := New(60, 3) // one a second, bursts of 3
	t0 := time.Now()
	for i := range 3 {
		if !l.Allow("a", t0) {
			t.Fatalf("attempt %d of the burst refused", i+1)
		}
	}
	if l.Allow("a", t0) {
		t.Fatal("fourth attempt in the same instant allowed")
	}
	if !l.Allow("b", t0) {
		t.Fatal("another key shares a's bucket")
	}
	if !l.Allow("a", t0.Add(1100*time.Millisecond)) {
		t.Fatal("a second later the bucket did not refill")
	}
}

// Full buckets are dropped after ten minutes, so a scan from many
// addresses cannot grow the table forever.
func TestIdleBucketsAreDropped(t *testing.T) {
	l := New(60, 1)
	t0 := time.Now()
	for i := range 1000 {
		l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256), t0)
	}
	l.Allow("late", t0.Add(11*time.Minute))
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d buckets after the sweep, want only the new one", n)
	}
}

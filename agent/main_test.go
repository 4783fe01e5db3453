package main

import (
	"testing"
	"time"
)

func TestCheckPeerIdle(t *testing.T) {
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, false}, {-time.Minute, false}, {time.Millisecond, false}, {time.Second, true}, {5 * time.Minute, true}} {
		if err := checkPeerIdle(c.d); (err == nil) != c.ok {
			t.Errorf("checkPeerIdle(%v) = %v, want ok=%v", c.d, err, c.ok)
		}
	}
}

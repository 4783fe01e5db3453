package rollout

import (
	"math"
	"testing"
)

func TestBucketMatchesFlagdFractional(t *testing.T) {
	// murmur3-32 with seed 0 of "" is 0; of "hello" is 0x248bfa47 (the
	// reference vectors of MurmurHash3_x86_32), so the buckets are
	// |int32(h)|/MaxInt32*100 as flagd computes them.
	if b := Bucket("", ""); b != 0 {
		t.Fatalf("Bucket of empty = %v", b)
	}
	want := math.Abs(float64(int32(uint32(0x248bfa47)))) / math.MaxInt32 * 100
	if b := Bucket("hel", "lo"); b != want {
		t.Fatalf("Bucket(hel, lo) = %v, want %v", b, want)
	}
}

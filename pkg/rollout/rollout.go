// Package rollout puts a machine in a stable bucket of 0–100 for a
// percentage rollout, so that raising the percentage only ever adds
// machines: flag rules and release rollouts both use it.
//
// It follows flagd's "fractional" convention: the bucket is murmur3-32
// (seed 0) of key+targetingKey, |hash| / MaxInt32 × 100, so results agree
// with other OpenFeature tooling.
package rollout

import (
	"math"

	"github.com/twmb/murmur3"
)

// Bucket returns the bucket of targetingKey (a machine ID, or an
// application's own key) for key (a flag's key, or "release:CHANNEL"),
// in [0, 100].
func Bucket(key, targetingKey string) float64 {
	h := int32(murmur3.StringSum32(key + targetingKey))
	return math.Abs(float64(h)) / math.MaxInt32 * 100
}

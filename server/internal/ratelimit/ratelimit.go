// Package ratelimit keeps a token bucket per key (a source IP), dropping
// idle buckets so that a scan from many addresses cannot grow it forever.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter limits events per key.
type Limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
	swept   time.Time
}

// New allows perMinute events per key per minute with the given burst.
func New(perMinute float64, burst int) *Limiter {
	if burst <= 0 {
		burst = max(int(perMinute), 1)
	}
	return &Limiter{limit: rate.Limit(perMinute / 60), burst: burst, buckets: map[string]*rate.Limiter{}, swept: time.Now()}
}

// Allow reports whether one more event for key may happen at now.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 10*time.Minute {
		for k, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}

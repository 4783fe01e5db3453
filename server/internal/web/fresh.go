package web

import (
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/server/internal/secret"
)

// fresh holds just-made secrets (a token, an admin's password, an API
// key) between the POST that made them and the one page that shows them:
// in memory only, bound to the session (its CSRF token), for one view
// within freshFor. Reloading that page shows nothing and makes nothing.
type fresh[T any] struct {
	mu sync.Mutex
	m  map[string]freshItem[T]
}

type freshItem[T any] struct {
	session string
	v       T
	until   time.Time
}

const freshFor = 5 * time.Minute

func (f *fresh[T]) put(session string, v T) string {
	key, _ := secret.New("")
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]freshItem[T]{}
	}
	for k, it := range f.m {
		if now.After(it.until) {
			delete(f.m, k)
		}
	}
	f.m[key] = freshItem[T]{session: session, v: v, until: now.Add(freshFor)}
	return key
}

// take returns what is under key once, to the session that made it.
func (f *fresh[T]) take(key, session string) (T, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.m[key]
	var zero T
	if !ok || it.session != session || time.Now().After(it.until) {
		return zero, false
	}
	delete(f.m, key)
	return it.v, true
}

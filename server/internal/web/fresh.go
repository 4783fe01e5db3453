package web

import (
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
)

// freshTokens holds just-created tokens' secrets between the POST that
// made them and the one page that shows them: in memory only, bound to the
// session (its CSRF token), for one view within freshFor.
type freshTokens struct {
	mu sync.Mutex
	m  map[string]freshToken
}

type freshToken struct {
	session string
	token   wire.Token
	secret  string
	until   time.Time
}

const freshFor = 5 * time.Minute

func (f *freshTokens) put(session string, t wire.Token, sec string) string {
	key, _ := secret.New("")
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]freshToken{}
	}
	for k, v := range f.m {
		if now.After(v.until) {
			delete(f.m, k)
		}
	}
	f.m[key] = freshToken{session: session, token: t, secret: sec, until: now.Add(freshFor)}
	return key
}

// take returns the token under key once, to the session that made it.
func (f *freshTokens) take(key, session string) (wire.Token, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.m[key]
	if !ok || v.session != session || time.Now().After(v.until) {
		return wire.Token{}, "", false
	}
	delete(f.m, key)
	return v.token, v.secret, true
}

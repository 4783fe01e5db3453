package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// machineAuth admits requests carrying a live machine credential. A revoked
// machine's credential gets machine_revoked, so its agent knows to tear
// down rather than retry; an expired machine's gets machine_expired, so its
// agent asks for a re-authentication.
func (s *Server) machineAuth(next http.Handler) http.Handler {
	return s.machineAuthFor(next, false)
}

// machineAuthAllowExpired is machineAuth that admits expired machines too
// (their re-authentication).
func (s *Server) machineAuthAllowExpired(next http.Handler) http.Handler {
	return s.machineAuthFor(next, true)
}

func (s *Server) machineAuthFor(next http.Handler, allowExpired bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "missing Authorization: Bearer wfm_… header"))
			return
		}
		if !secret.WellFormed(tok, wire.PrefixMachineCred) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "malformed machine credential"))
			return
		}
		hash := secret.Hash(tok)
		m, cached := s.creds.get(hash, s.hub, s.now())
		if !cached {
			var err error
			m, err = s.fl.AuthenticateMachine(r.Context(), hash)
			if errors.Is(err, store.ErrNotFound) {
				s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "unknown machine credential"))
				return
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if store.Expired(m, s.now()) {
			if m.State == wire.MachineActive {
				// Past its expiry before the janitor came by: out of the
				// maps now, not at the janitor's next round.
				if _, err := s.fl.ExpireMachine(r.Context(), store.Actor{Name: "system:expiry", SourceIP: "local"}, m.ID); err != nil {
					s.writeError(w, r, err)
					return
				}
				m.State = wire.MachineExpired
			}
			if !allowExpired {
				when := ""
				if m.ExpiresAt != nil {
					when = " at " + m.ExpiresAt.UTC().Format(time.RFC3339)
				}
				s.writeError(w, r, wire.Errorf(wire.CodeMachineExpired, "machine %s's enrollment expired%s: re-authenticate with an enrollment token (wirefleet-agent login --token wfe_…)", m.Name, when))
				return
			}
		} else if m.State != wire.MachineActive {
			s.writeError(w, r, wire.Errorf(wire.CodeMachineRevoked, "machine %s has been revoked by an admin", m.Name))
			return
		}
		if !cached && m.State == wire.MachineActive {
			s.creds.put(hash, m, s.hub, s.now())
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyMachine, m)))
	})
}

// adminAuth admits requests carrying a live admin API key.
func (s *Server) adminAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "missing Authorization: Bearer wfa_… header"))
			return
		}
		if !secret.WellFormed(tok, wire.PrefixAdminKey) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "malformed admin API key"))
			return
		}
		ad, err := s.db.AdminByAPIKey(r.Context(), secret.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "unknown, expired or revoked admin API key"))
			return
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		a := store.Actor{Name: "admin:" + ad.Name, SourceIP: remoteaddr.IP(r)}
		if ad.Role == wire.RoleMember {
			// A member's key carries their teams' scope; without a team
			// it does nothing (an admin moved to members, say).
			sc, err := s.fl.ScopeOf(r.Context(), ad.ID)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			if sc == nil || len(sc.AdminTeams)+len(sc.MemberTeams) == 0 {
				s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "this API key's account is a member with no team: it may do nothing"))
				return
			}
			a = store.Actor{Name: "member:" + ad.Name, SourceIP: remoteaddr.IP(r), Scope: sc}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyAdmin, a)))
	})
}

// MetricsAuth admits a scrape carrying the metrics bearer token (compared
// in constant time; "" disables it) or an admin API key. /metrics names
// machine counts, routes and versions: not for the public. token is asked
// at each scrape: secrets rotate metrics replaces it.
func (s *Server) MetricsAuth(token func() string, next http.Handler) http.Handler {
	admin := s.adminAuth(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := bearer(r); ok && token() != "" {
			want := sha256.Sum256([]byte(token()))
			got := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		if _, ok := bearer(r); !ok {
			s.writeError(w, r, wire.Errorf(wire.CodeUnauthenticated, "/metrics needs Authorization: Bearer with the metrics token (--metrics-token-file) or an admin API key; or scrape --metrics-listen"))
			return
		}
		admin.ServeHTTP(w, r)
	})
}

// localAdmin marks requests from the Unix socket as the local operator. The
// socket is root-only (0600 in a 0700 directory), so reaching it is the
// authentication, as with headscale's CLI.
func (s *Server) localAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := store.Actor{Name: "local:cli", SourceIP: "unix"}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyAdmin, a)))
	})
}

// credCache remembers machines by credential hash, so that the requests an
// agent makes all day (long-polls, health, flags) do not each read the
// database: at 10,000 agents that lookup was 40 % of the server's CPU. An
// entry is used only while the hub still holds the machine unchanged (a
// revocation, deletion, rename, re-key, re-tag or version pin drops it at
// once, on every replica as soon as its hub has the change) and for at
// most its TTL (credTTL, give or take a fifth so that the entries of a
// fleet enrolled together do not all expire together), so facts written
// elsewhere (agent version, OS) are at most that old. At 50,000 agents a
// 30 s TTL meant 1,700 database reads a second, in waves.
//
// A machine has one cached credential: caching its rotated credential drops
// the entry of the one it replaced (on this replica at once; on others
// within the TTL).
type credCache struct {
	mu        sync.Mutex
	m         map[string]credEntry
	byMachine map[string]string // machine ID → the hash cached for it
}

type credEntry struct {
	m      wire.Machine
	gen    uint64
	expiry time.Time
}

const credTTL = 5 * time.Minute

func (c *credCache) get(hash string, hub *netmap.Hub, now time.Time) (wire.Machine, bool) {
	c.mu.Lock()
	e, ok := c.m[hash]
	c.mu.Unlock()
	if !ok || now.After(e.expiry) {
		return wire.Machine{}, false
	}
	if gen, active := hub.Generation(e.m.ID); !active || gen != e.gen {
		return wire.Machine{}, false
	}
	return e.m, true
}

func (c *credCache) put(hash string, m wire.Machine, hub *netmap.Hub, now time.Time) {
	gen, active := hub.Generation(m.ID)
	if !active {
		return // not in the hub yet (or any more): always ask the database
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m, c.byMachine = map[string]credEntry{}, map[string]string{}
	}
	if old, ok := c.byMachine[m.ID]; ok && old != hash {
		delete(c.m, old)
	}
	c.byMachine[m.ID] = hash
	if len(c.m) >= 2*hub.Len()+1024 { // only live credentials get here; drop the stale ones
		for k, e := range c.m {
			if now.After(e.expiry) {
				delete(c.m, k)
				if c.byMachine[e.m.ID] == k {
					delete(c.byMachine, e.m.ID)
				}
			}
		}
	}
	ttl := credTTL*4/5 + rand.N(credTTL*2/5)
	c.m[hash] = credEntry{m: m, gen: gen, expiry: now.Add(ttl)}
}

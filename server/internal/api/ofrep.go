package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/wirefleet/wirefleet/pkg/flageval"
	"github.com/wirefleet/wirefleet/pkg/ofrep"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
	"github.com/wirefleet/wirefleet/server/internal/remoteaddr"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// OFREP for flag clients: applications outside the fleet evaluate flags
// on the server with a client key (Authorization: Bearer wfc_…). The
// protocol is pkg/ofrep's, as on every agent; the evaluation pkg/flageval's
// over facts the request's context gives (targetingKey, tags, os, arch,
// version). A client evaluates the whole fleet's flags and its team's; any
// other flag is FLAG_NOT_FOUND.
//
// The hot path reads no database: clients are cached by key hash (10 s,
// or until a client changes on this replica), the flag set is kept in
// memory and reloaded when its version moves, and usage is counted in
// memory and written every 30 s.

// DefaultClientRate is a client's requests per minute when it sets none.
const DefaultClientRate = 6000

const clientCacheTTL = 10 * time.Second

type clientEntry struct {
	c   wire.FlagClient
	gen uint64
	exp time.Time
}

type flagSnapshot struct {
	version int64
	byKey   map[string]wire.Flag
	list    []wire.Flag         // by key
	teams   map[string][]string // team → its tags
}

// forMachine returns the flags a machine receives (fleet.MachineFlags).
func (sn *flagSnapshot) forMachine(m wire.Machine) []wire.Flag {
	return fleet.MachineFlags(sn.list, sn.teams, m.Tags)
}

// ofrepServer is the server's OFREP endpoint.
type ofrepServer struct {
	s        *Server
	mu       sync.Mutex
	clients  map[string]clientEntry // key hash →
	limiters map[string]*rate.Limiter
	flags    atomic.Pointer[flagSnapshot]
	loadMu   sync.Mutex
	usage    sync.Map // usageKey → *usageCounter
	noUsage  bool     // benchmarks: what counting costs
}

type usageKey struct{ flag, subject string }

type usageCounter struct{ n, last atomic.Int64 }

func newOFREPServer(s *Server) *ofrepServer {
	return &ofrepServer{s: s, clients: map[string]clientEntry{}, limiters: map[string]*rate.Limiter{}}
}

type ctxClient struct{}

func clientFrom(r *http.Request) wire.FlagClient {
	c, _ := r.Context().Value(ctxClient{}).(wire.FlagClient)
	return c
}

// refuse answers an OFREP request the server will not evaluate.
func refuse(w http.ResponseWriter, status int, details string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wirefleet-ofrep"`)
	}
	ofrep.WriteJSON(w, status, ofrep.Error{ErrorCode: ofrep.CodeGeneral, ErrorDetails: details})
}

// auth admits a live, active client from an allowed address, within its
// rate.
func (o *ofrepServer) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok || !secret.WellFormed(tok, wire.PrefixFlagClientKey) {
			refuse(w, http.StatusUnauthorized, "missing or malformed client key: Authorization: Bearer wfc_… (wirefleet-server clients create)")
			return
		}
		c, err := o.client(r.Context(), secret.Hash(tok))
		if errors.Is(err, store.ErrNotFound) {
			refuse(w, http.StatusUnauthorized, "unknown or revoked client key")
			return
		}
		if err != nil {
			o.s.log.Error("ofrep: client lookup", "err", err)
			refuse(w, http.StatusInternalServerError, "the server could not check the key")
			return
		}
		if !c.Active {
			refuse(w, http.StatusUnauthorized, "client "+c.Name+" is inactive")
			return
		}
		if len(c.Allow) > 0 {
			ip, err := netip.ParseAddr(remoteaddr.IP(r))
			if err != nil || !slices.ContainsFunc(c.Allow, func(p string) bool {
				pfx, err := netip.ParsePrefix(p)
				return err == nil && pfx.Contains(ip.Unmap())
			}) {
				refuse(w, http.StatusForbidden, "client "+c.Name+" may not call from "+remoteaddr.IP(r))
				return
			}
		}
		if wait, ok := o.admit(c, time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			refuse(w, http.StatusTooManyRequests, "client "+c.Name+" is over its rate ("+strconv.Itoa(rateOf(c))+" requests a minute)")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxClient{}, c)))
	})
}

func rateOf(c wire.FlagClient) int {
	if c.RatePerMinute > 0 {
		return c.RatePerMinute
	}
	return DefaultClientRate
}

// admit takes one request from the client's bucket (a minute's worth of
// burst, at most 1,000), or says how long until one is free.
func (o *ofrepServer) admit(c wire.FlagClient, now time.Time) (time.Duration, bool) {
	per := rateOf(c)
	o.mu.Lock()
	lim := o.limiters[c.ID]
	if lim == nil || int(lim.Limit()*60+0.5) != per {
		lim = rate.NewLimiter(rate.Limit(float64(per)/60), min(per, 1000))
		o.limiters[c.ID] = lim
	}
	o.mu.Unlock()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return time.Minute, false
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d, false
	}
	return 0, true
}

// client returns the client of a key hash, cached.
func (o *ofrepServer) client(ctx context.Context, hash string) (wire.FlagClient, error) {
	gen := o.s.fl.ClientGeneration()
	now := time.Now()
	o.mu.Lock()
	e, ok := o.clients[hash]
	o.mu.Unlock()
	if ok && e.gen == gen && now.Before(e.exp) {
		return e.c, nil
	}
	c, err := o.s.fl.FlagClientByKey(ctx, hash)
	if err != nil {
		return c, err
	}
	o.mu.Lock()
	if len(o.clients) > 100_000 {
		clear(o.clients) // keys of clients gone meanwhile: start over
	}
	o.clients[hash] = clientEntry{c: c, gen: gen, exp: now.Add(clientCacheTTL)}
	o.mu.Unlock()
	return c, nil
}

// snapshot returns the flag set, reloaded when its version moved.
func (o *ofrepServer) snapshot(ctx context.Context) (*flagSnapshot, error) {
	ver, _ := o.s.fl.Flags().Current()
	if sn := o.flags.Load(); sn != nil && sn.version >= ver {
		return sn, nil
	}
	o.loadMu.Lock()
	defer o.loadMu.Unlock()
	if sn := o.flags.Load(); sn != nil && sn.version >= ver {
		return sn, nil
	}
	fs, v, err := o.s.db.ListFlags(ctx)
	if err != nil {
		return nil, err
	}
	teams, err := o.s.db.TeamTags(ctx)
	if err != nil {
		return nil, err
	}
	o.s.fl.Flags().Set(v) // a replica may learn of a change here first
	sn := &flagSnapshot{version: v, byKey: make(map[string]wire.Flag, len(fs)), list: fs, teams: teams}
	for _, f := range fs {
		sn.byKey[f.Key] = f
	}
	o.flags.Store(sn)
	return sn, nil
}

// facts are what the flag rules see of a client's request.
func facts(c wire.FlagClient, oc ofrep.Context) wire.MachineFacts {
	id := oc.TargetingKey
	if id == "" {
		id = c.ID
	}
	tags := oc.Strings("tags")
	if tags == nil {
		tags = []string{}
	}
	return wire.MachineFacts{ID: id, Name: c.Name, Tags: tags, OS: oc.String("os"), Arch: oc.String("arch"), AgentVersion: oc.String("version")}
}

func (o *ofrepServer) result(c wire.FlagClient, f wire.Flag, oc ofrep.Context, v int64) ofrep.Result {
	res := flageval.Evaluate(f, facts(c, oc), oc.TargetingKey)
	o.count(f.Key, "client:"+c.ID)
	return ofrep.Result{Key: f.Key, Value: res.Value, Reason: res.Reason, Variant: res.Variant, Metadata: map[string]any{"flagSetVersion": v}}
}

// Evaluate evaluates one flag the client may see.
func (o *ofrepServer) Evaluate(r *http.Request, key string, oc ofrep.Context) (ofrep.Result, bool) {
	c := clientFrom(r)
	sn, err := o.snapshot(r.Context())
	if err != nil {
		o.s.log.Error("ofrep: load flags", "err", err)
		return ofrep.Result{}, false
	}
	f, ok := sn.byKey[key]
	if !ok || f.Team != "" && f.Team != c.Team {
		return ofrep.Result{}, false
	}
	return o.result(c, f, oc, sn.version), true
}

// EvaluateAll evaluates every flag the client may see.
func (o *ofrepServer) EvaluateAll(r *http.Request, oc ofrep.Context) []ofrep.Result {
	c := clientFrom(r)
	sn, err := o.snapshot(r.Context())
	if err != nil {
		o.s.log.Error("ofrep: load flags", "err", err)
		return nil
	}
	out := make([]ofrep.Result, 0, len(sn.list))
	for _, f := range sn.list {
		if f.Team == "" || f.Team == c.Team {
			out = append(out, o.result(c, f, oc, sn.version))
		}
	}
	return out
}

// count adds one evaluation of flag by subject.
func (o *ofrepServer) count(flag, subject string) {
	if !o.noUsage {
		o.countN(flag, subject, 1, time.Now())
	}
}

// countN adds n evaluations (an agent's report of its local ones).
func (o *ofrepServer) countN(flag, subject string, n int64, at time.Time) {
	k := usageKey{flag, subject}
	v, ok := o.usage.Load(k)
	if !ok {
		v, _ = o.usage.LoadOrStore(k, &usageCounter{})
	}
	u := v.(*usageCounter)
	u.n.Add(n)
	if ms := at.UnixMilli(); ms > u.last.Load() {
		u.last.Store(ms)
	}
}

// flushUsage writes the counts gathered since the last flush.
func (o *ofrepServer) flushUsage(ctx context.Context) error {
	hour := time.Now().Truncate(time.Hour)
	var us []store.UsageCount
	o.usage.Range(func(k, v any) bool {
		u := v.(*usageCounter)
		if n := u.n.Swap(0); n > 0 {
			key := k.(usageKey)
			us = append(us, store.UsageCount{Flag: key.flag, Subject: key.subject, Hour: hour, Count: n, Last: time.UnixMilli(u.last.Load())})
		} else {
			o.usage.Delete(k) // idle: forget it
		}
		return true
	})
	if err := o.s.fl.AddUsage(ctx, us); err != nil {
		// Put them back for the next flush rather than lose them.
		for _, u := range us {
			o.countN(u.Flag, u.Subject, u.Count, u.Last)
		}
		return err
	}
	return nil
}

// RunUsageWriter writes flag usage every interval until ctx ends, then
// once more.
func (s *Server) RunUsageWriter(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.ofrep.flushUsage(fctx); err != nil {
				s.log.Warn("flag usage: last write failed", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := s.ofrep.flushUsage(ctx); err != nil {
				s.log.Warn("flag usage: write failed; kept for the next", "err", err)
			}
		}
	}
}

// FlushUsage writes the counted usage now (tests, shutdown).
func (s *Server) FlushUsage(ctx context.Context) error { return s.ofrep.flushUsage(ctx) }

package engine

// The engine's map sync: the network map it starts from (the on-disk
// cache, else the server's first answer), the long-poll that keeps it
// current, applying each answer to the tunnel and the view, and the
// cache written behind it.

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/state"
	"github.com/wirefleet/wirefleet/agent/internal/update"
	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// CacheEvery is how often at most a map delta is written to the map
// cache. Deltas arrive whenever any machine in the fleet changes and the
// cache is the whole map (a megabyte at 5,000 peers), so they are
// coalesced; full maps are written at once, and Run writes what is left
// when it returns. A crash loses at most this much: the agent then asks
// the server for the changes since the older version.
const CacheEvery = 10 * time.Second

// loadStartingMap starts from the cached map, so the tunnel comes up while
// the server is unreachable, or else waits for the first map.
func (e *Engine) loadStartingMap(ctx context.Context, cl mapFetcher) error {
	cache, ok, err := state.LoadCache(e.Paths.NetmapCache())
	if err != nil {
		e.Log.Warn("ignoring the network-map cache", "err", err)
	}
	if ok {
		_, _, _ = e.view.Apply(cache.Map)
		e.Log.Info("starting from the cached network map", "version", cache.Map.Version, "peers", len(cache.Map.Peers), "saved_at", cache.SavedAt)
	}
	if e.view.Self() != nil {
		return nil
	}
	// No cache: wait for the first map to learn the prefixes.
	nm, err := e.firstMap(ctx, cl)
	if err != nil {
		return err
	}
	if _, _, err := e.view.Apply(nm); err != nil {
		return fmt.Errorf("engine: first network map: %w", err)
	}
	// The cache was missing or unreadable: write this map now. Later
	// polls answer "unchanged" against it and would never mark the
	// cache stale, so a torn netmap.json stayed empty and the next
	// start without the server had no map and no tunnel.
	e.mu.Lock()
	e.cache.stale = true
	e.mu.Unlock()
	e.saveCache()
	return nil
}

// mapFetcher is what the engine asks for a network map.
type mapFetcher interface {
	Netmap(context.Context, uint64, time.Duration) (wire.NetMap, error)
}

// pollMaps long-polls the network map until ctx ends, applying each map
// and retrying with backoff while the server is unreachable. It returns
// early only when the machine is revoked.
func (e *Engine) pollMaps(ctx context.Context, cfg state.Config, cl *client.Client) error {
	committed := false
	failures := 0
	expired := false // the last poll said machine_expired
	for ctx.Err() == nil {
		e.mu.Lock()
		since := e.view.Version()
		e.mu.Unlock()
		wait := time.Duration(0) // the server's long-poll
		if !committed {
			// The first poll returns at once: it proves the server accepts
			// us, which commits a pending self-update without waiting for
			// the next map change.
			wait = client.NoWait
		}
		nm, err := cl.Netmap(ctx, since, wait)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if wire.ErrorCode(err) == wire.CodeMachineRevoked {
				return e.revoked(cfg)
			}
			d := Backoff(failures)
			failures++
			e.setErr(err)
			if wire.ErrorCode(err) == wire.CodeMachineExpired {
				// Peers have dropped this machine; its secrets stay, for
				// `wirefleet-agent login --token …` (which wakes this wait).
				d = expiredRetry
				if !expired {
					e.Log.Error("this machine's enrollment expired: it is out of every peer's map until it re-authenticates; run `wirefleet-agent login --token wfe_…` with a token from an admin", "err", err)
				}
				expired = true
			} else {
				e.Log.Warn("network-map poll failed; retrying", "err", err, "retry_in", d.Round(time.Millisecond), "failures", failures)
			}
			select {
			case <-ctx.Done():
			case <-time.After(d):
			case <-e.pollWake:
			}
			continue
		}
		if expired {
			e.Log.Info("re-authenticated: back in the fleet")
			expired = false
		} else if failures > 0 {
			e.Log.Info("server reachable again", "after_failures", failures)
		}
		failures = 0
		e.setErr(nil)
		if !committed {
			committed = true
			if m := update.Commit(e.Paths.State, e.Version, e.now()); m != nil {
				e.Log.Info("update healthy and committed", "from", m.From, "to", m.To)
				e.setUpdate(&wire.UpdateStatus{From: m.From, To: m.To, State: "ok", At: e.now().UTC()})
			}
		}
		e.applyMap(nm)
	}
	return nil
}

// applyMap applies one map to the tunnel and the view, and caches the
// result on disk when it changed anything.
func (e *Engine) applyMap(nm wire.NetMap) {
	t0 := e.now()
	if e.Flags != nil {
		e.Flags.Heard() // any answer from the server confirms a held flag poll
	}
	e.mu.Lock()
	before, whole, err := e.view.Apply(nm)
	if err != nil {
		e.mu.Unlock()
		e.Log.Error("ignoring a network map", "version", nm.Version, "err", err)
		return
	}
	names := e.DNS != nil && (whole || namesMove(before, nm))
	if tun := e.link.tun; tun != nil {
		if nm.Self != nil {
			tun.SetServer(*nm.Self)
		}
		if err := tun.Sync(before, whole, nm); err != nil {
			// The device no longer matches the view: a new tunnel is
			// configured from the whole view.
			e.Log.Error("applying network map; recreating the tunnel", "err", err)
			e.dropTunnelLocked()
			e.link.err = err.Error()
			defer e.retryTunnel()
		}
	}
	peers := e.view.Len()
	e.lastSync = e.now()
	if !nm.Unchanged {
		e.cache.stale = true
	}
	e.mu.Unlock()
	if nm.Self != nil {
		wake(e.keyWake) // it may carry an admin's request to rotate the key
		e.notePins(nm.Self.ServerPins)
	}
	if nm.Unchanged {
		return
	}
	if names {
		e.syncDNS() // renames and revocations answer with the next query
	}
	e.sshChanged() // a revoked source's sessions end now
	if nm.Self != nil || nm.Full {
		e.syncRoutes() // the fleet's routes come with Self
	}
	// Deltas come whenever any machine in the fleet changes: Debug, so a
	// big fleet does not fill the log; full maps (start, reconnect) Info.
	lvl := slog.LevelDebug
	if nm.Full {
		lvl = slog.LevelInfo
	}
	e.Log.Log(context.Background(), lvl, "network map applied", "version", nm.Version, "full", nm.Full,
		"added", len(nm.Added), "changed", len(nm.Changed), "removed", len(nm.Removed), "peers", peers,
		"took", time.Since(t0).Round(time.Microsecond))
	if nm.Full || e.cache.dirty == nil {
		e.saveCache()
		return
	}
	select {
	case e.cache.dirty <- struct{}{}:
	default:
	}
}

// saveCaches writes the map cache at most every CacheEvery while deltas
// arrive.
func (e *Engine) saveCaches(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.cache.dirty:
		}
		select {
		case <-ctx.Done():
			return // Run writes it
		case <-time.After(CacheEvery):
		}
		e.saveCache()
	}
}

// saveCache writes the view to the map cache if the cache lacks some of it.
func (e *Engine) saveCache() {
	e.cache.mu.Lock()
	defer e.cache.mu.Unlock()
	e.mu.Lock()
	if !e.cache.stale || e.view.Self() == nil {
		e.mu.Unlock()
		return
	}
	full := e.view.Full()
	e.cache.stale = false
	e.mu.Unlock()
	if err := state.SaveCache(e.Paths.NetmapCache(), state.Cache{SavedAt: e.now().UTC(), Map: full}); err != nil {
		e.Log.Warn("saving the network-map cache", "err", err)
		e.mu.Lock()
		e.cache.stale = true
		e.mu.Unlock()
	}
}

// notePins takes the server's announced TLS key pins (the key serving now
// and the next one), when the agent pins at all: new connections accept
// either, and they are kept in the config for the next start. The map came over a connection the
// current pins verified, so the server vouches for the set.
func (e *Engine) notePins(pins []string) {
	if len(pins) == 0 || len(pins) > wire.MaxServerPins {
		return // a server with a CA's certificate, or nonsense
	}
	e.mu.Lock()
	cl := e.cl
	// An agent that trusts CAs (enrolled with no pin: the server's
	// certificate is from a CA, as with ACME) never starts pinning: the
	// announced keys are the server's self-signed ones, served to other
	// names.
	if cl == nil || len(cl.Pins()) == 0 || slices.Equal(pins, cl.Pins()) {
		e.mu.Unlock()
		return
	}
	if err := cl.SetPins(pins); err != nil {
		e.mu.Unlock()
		e.Log.Warn("ignoring the server's TLS pins", "err", err)
		return
	}
	e.cfg.Pins = slices.Clone(pins)
	cfg := e.cfg
	e.mu.Unlock()
	if err := state.SaveConfig(e.Paths.ConfigFile(), cfg); err != nil {
		e.Log.Warn("recording the server's TLS pins", "err", err)
	}
	e.Log.Info("the server's TLS keys: accepting the current one and the next it announced", "pins", pins)
}

func (e *Engine) firstMap(ctx context.Context, cl mapFetcher) (wire.NetMap, error) {
	for n := 0; ; n++ {
		nm, err := cl.Netmap(ctx, 0, 0)
		if err == nil {
			return nm, nil
		}
		if wire.ErrorCode(err) == wire.CodeMachineRevoked {
			return nm, err
		}
		e.Log.Warn("no cached network map and the server is unreachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nm, ctx.Err()
		case <-time.After(Backoff(n)):
		}
	}
}

// reportEndpoints tells the server where this machine can be reached, at
// start and whenever the local addresses change (checked every minute).
func (e *Engine) reportEndpoints(ctx context.Context, cl interface {
	ReportEndpoints(context.Context, wire.EndpointsRequest) (wire.EndpointsRequest, error)
}, port int, iface string) {
	var last string
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		eps := LocalEndpoints(port, iface)
		e.mu.Lock()
		tun := e.link.tun
		e.mu.Unlock()
		if tun != nil {
			// Where STUN sees us: the address peers behind other NATs use.
			if r := tun.Reflexive(); r.IsValid() && !slices.Contains(eps, r.String()) && len(eps) < wire.MaxEndpoints-1 {
				eps = append(eps, r.String())
			}
		}
		if key := fmt.Sprint(eps); key != last {
			if _, err := cl.ReportEndpoints(ctx, wire.EndpointsRequest{Endpoints: eps, ListenPort: port}); err != nil {
				e.Log.Warn("reporting endpoints", "err", err)
			} else {
				last = key
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.endpointsDirty:
		}
	}
}

// Package fleet is the server's service layer: every change to the fleet —
// enrolling, revoking, deleting, renaming, tagging and pinning machines,
// tokens, flags, admins and API keys, releases — goes through it. Each
// method validates its input (one set of rules, whichever adapter calls),
// runs one store transaction that also writes the audit event, and then
// does what the change implies for connected agents: waits until the
// network-map hub has the new version (so held long-polls are answered) or
// wakes flag polls.
//
// The HTTP API, the admin web page and the server's own start-up and
// background jobs are adapters over it; none of them calls a store mutation
// or the hub's Sync directly. Reads stay on the store: they need no rules.
package fleet

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/netmap"
	"github.com/wirefleet/wirefleet/server/internal/presence"
	"github.com/wirefleet/wirefleet/server/internal/releasestore"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Actor says who makes a change and from where (audit log).
type Actor = store.Actor

// Config holds the service's settings.
type Config struct {
	// DefaultTokenTTL applies when a token request names no expiry
	// (default 24 h).
	DefaultTokenTTL time.Duration
	// Releases, when set, is where published releases are kept.
	Releases *releasestore.Store
	// BcryptCost is the work factor for admin passwords (default 12).
	BcryptCost int
	// MachineExpiry is how long a machine stays enrolled before it must
	// re-authenticate (0: forever); a token's own lifetime wins.
	MachineExpiry time.Duration
	// Presence tracks the machines' polls and last-seen times (default:
	// a tracker of the service's own over the store).
	Presence *presence.Tracker
	// ServerAddrs are the server's own addresses (its external URL's):
	// no machine may advertise a route that contains one.
	ServerAddrs []netip.Addr
	// FlowExport, when set, gets every flow record once stored (OTLP, JSON
	// lines: flowexport.Exporter).
	FlowExport interface {
		Export(ctx context.Context, recs []wire.FlowRecord) error
	}
	// Deprovision is what happens to the machines of a person the
	// directory deactivates or deletes (default: expire them).
	Deprovision store.Deprovision
	// Secrets, when set, is the server's own secret store (secrets
	// status, seal, rotate).
	Secrets Secrets
}

// Service applies changes to the fleet. Create it with New.
type Service struct {
	db    *store.DB
	hub   *netmap.Hub
	log   *slog.Logger
	cfg   Config
	flags *FlagWatch
	// Now is the clock; tests replace it.
	Now func() time.Time

	routerMu    sync.Mutex
	routerTimer *time.Timer // a pending RouterSession re-evaluation

	clientGen atomic.Uint64 // ClientGeneration
}

// New returns the service over db and hub.
func New(db *store.DB, hub *netmap.Hub, log *slog.Logger, cfg Config) *Service {
	if cfg.DefaultTokenTTL <= 0 {
		cfg.DefaultTokenTTL = 24 * time.Hour
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 12
	}
	if cfg.Presence == nil {
		cfg.Presence = presence.New(db, log)
	}
	if cfg.Deprovision == "" {
		cfg.Deprovision = store.DeprovisionExpire
	}
	s := &Service{db: db, hub: hub, log: log, cfg: cfg, flags: newFlagWatch(), Now: time.Now}
	if v, err := db.FlagsVersion(context.Background()); err == nil {
		s.flags.Set(v)
	}
	return s
}

// Hub returns the network-map hub, for reads and long-polls.
func (s *Service) Hub() *netmap.Hub { return s.hub }

// Presence returns who is there: held polls and last-seen times.
func (s *Service) Presence() *presence.Tracker { return s.cfg.Presence }

// BcryptCost returns the admin passwords' work factor.
func (s *Service) BcryptCost() int { return s.cfg.BcryptCost }

// Releases returns the release store, or nil when the server hosts none.
func (s *Service) Releases() *releasestore.Store { return s.cfg.Releases }

// synced waits until the hub reflects the change, so every agent holding a
// long-poll has been answered with it.
func (s *Service) synced(ctx context.Context, ch store.Change) error {
	return s.hub.Sync(ctx, ch.Version)
}

package fleet

import (
	"context"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Reader is what the adapters (api, web) may read of the store. It holds
// no method that writes: every change goes through Service, which
// validates it, makes it one transaction with its audit event and syncs
// the hub — and the compiler, not a convention, keeps it so.
type Reader interface {
	Machine(ctx context.Context, idOrName string) (wire.Machine, error)
	ListMachines(ctx context.Context, f store.MachineFilter) ([]wire.Machine, error)
	CountMachines(ctx context.Context) (map[string]int, error)
	MachineNames(ctx context.Context, ids []string) (map[string]string, error)
	MachinesByToken(ctx context.Context) (map[string][]store.MachineRef, error)
	QuietMachines(ctx context.Context, cutoff time.Time) ([]string, error)
	Health(ctx context.Context, idOrName string, limit int) (wire.MachineHealth, error)
	UpdateHistory(ctx context.Context, machineID string, limit int) ([]wire.UpdateStatus, error)
	RecentUpdates(ctx context.Context, limit int) ([]wire.UpdateAttempt, error)
	ListTokens(ctx context.Context) ([]wire.Token, error)
	ListPending(ctx context.Context) ([]store.Pending, error)
	PendingByCode(ctx context.Context, code string) (store.Pending, error)
	ListFlags(ctx context.Context) ([]wire.Flag, int64, error)
	Flag(ctx context.Context, key string) (wire.Flag, error)
	ListAudit(ctx context.Context, f store.AuditFilter) (wire.AuditPage, error)
	ListAdmins(ctx context.Context) ([]wire.Admin, error)
	ListAPIKeys(ctx context.Context) ([]wire.APIKey, error)
	AdminByAPIKey(ctx context.Context, hash string) (wire.Admin, error)
	AdminPasswordHash(ctx context.Context, name string) (wire.Admin, string, error)
	SessionByHash(ctx context.Context, hash string) (store.Session, error)
	Flows(ctx context.Context, q store.FlowQuery) ([]wire.FlowRecord, int64, error)
	TopTalkers(ctx context.Context, q store.FlowQuery, n int) ([]store.Talker, error)
	People(ctx context.Context) ([]store.Person, error)
	Person(ctx context.Context, id string) (store.Person, error)
	Groups(ctx context.Context) ([]store.Group, error)
	Group(ctx context.Context, id string) (store.Group, error)
	SCIMTokens(ctx context.Context) ([]wire.SCIMToken, error)
	FlagUsageSummary(ctx context.Context, now time.Time) (map[string]store.UsageSummary, error)
	TeamTags(ctx context.Context) (map[string][]string, error)
}

var _ Reader = (*store.DB)(nil)

// Reader returns the store as the adapters may see it: reads only.
func (s *Service) Reader() Reader { return s.db }

// AuthenticateMachine returns the machine a credential belongs to. A
// machine's next credential is accepted too, and its first use makes it
// the current one (audited as machine.credential_rotate), retiring the
// old: the one write on the authentication path, made here rather than
// inside a read.
func (s *Service) AuthenticateMachine(ctx context.Context, hash string) (wire.Machine, error) {
	m, next, err := s.db.MachineByAnyCredential(ctx, hash)
	if err != nil || !next || m.State != wire.MachineActive {
		return m, err
	}
	return m, s.db.PromoteCredential(ctx, m, hash)
}

// Audit records an event that changes nothing else (a sign-in, a refused
// sign-in).
func (s *Service) Audit(ctx context.Context, a Actor, action, target string, details map[string]any) error {
	return s.db.Audit(ctx, a, action, target, details)
}

// SaveHealth stores a batch of health reports, keeping keep per machine.
// Reports that change what postures test (facts, an update's outcome)
// are map changes: it returns once the hub has them.
func (s *Service) SaveHealth(ctx context.Context, batch []store.HealthEntry, keep int) error {
	changes, err := s.db.SaveHealth(ctx, batch, keep)
	if len(changes) > 0 {
		if serr := s.synced(ctx, changes[len(changes)-1]); err == nil {
			err = serr
		}
	}
	return err
}

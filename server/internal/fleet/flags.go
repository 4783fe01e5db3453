package fleet

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/wirefleet/wirefleet/pkg/flageval"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// FlagWatch wakes agents holding a flags long-poll when the flag set
// changes, the way the netmap hub wakes map polls.
type FlagWatch struct {
	mu      sync.Mutex
	version int64
	wake    chan struct{}
}

func newFlagWatch() *FlagWatch { return &FlagWatch{wake: make(chan struct{})} }

// Set records that the flag set is at version v and wakes every waiter if
// that is newer than what was known.
func (f *FlagWatch) Set(v int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v > f.version {
		f.version = v
		close(f.wake)
		f.wake = make(chan struct{})
	}
}

// Current returns the known version and a channel closed when it moves.
func (f *FlagWatch) Current() (int64, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.version, f.wake
}

// Flags returns the flag-change watch (for long-polls and for replicas
// that learn of other replicas' changes).
func (s *Service) Flags() *FlagWatch { return s.flags }

// SetFlag validates and stores a flag, then wakes agents' flag polls.
func (s *Service) SetFlag(ctx context.Context, a Actor, f wire.Flag) (wire.Flag, error) {
	f.Type = strings.ToLower(f.Type)
	if err := flageval.Validate(f); err != nil {
		return f, err
	}
	if err := allowFlag(a, f.Team, true); err != nil {
		return f, err
	}
	if cur, err := s.db.Flag(ctx, f.Key); err == nil {
		if err := allowFlag(a, cur.Team, true); err != nil {
			return f, err // another team's flag of that key
		}
	}
	saved, err := s.db.SetFlag(ctx, a, f)
	if err != nil {
		return saved, err
	}
	s.flags.Set(saved.Version)
	return saved, nil
}

// ToggleFlag enables a disabled flag or disables an enabled one.
func (s *Service) ToggleFlag(ctx context.Context, a Actor, key string) (wire.Flag, error) {
	f, err := s.Flag(ctx, a, key)
	if err != nil {
		return f, err
	}
	f.Enabled = !f.Enabled
	return s.SetFlag(ctx, a, f)
}

// DeleteFlag removes a flag, then wakes agents' flag polls.
func (s *Service) DeleteFlag(ctx context.Context, a Actor, key string) error {
	cur, err := s.db.Flag(ctx, key)
	if err != nil {
		return err
	}
	if err := allowFlag(a, cur.Team, true); err != nil {
		return err
	}
	if err := s.db.DeleteFlag(ctx, a, key); err != nil {
		return err
	}
	if v, err := s.db.FlagsVersion(ctx); err == nil {
		s.flags.Set(v)
	}
	return nil
}

// allowFlag decides whether a may change (manage) or read a flag of team
// ("" the whole fleet's: owners only to change, anyone with a team to
// read no — a team role reads its teams' flags only).
func allowFlag(a Actor, team string, manage bool) error {
	sc := a.Scope
	if sc == nil {
		return nil
	}
	if team != "" && slices.Contains(sc.AdminTeams, team) || !manage && team != "" && slices.Contains(sc.MemberTeams, team) {
		return nil
	}
	what := "the flags of team " + team
	if team == "" {
		what = "the whole fleet's flags (give the flag one of your teams: " + strings.Join(sc.AdminTeams, ", ") + ")"
	}
	return &forbidden{msg: "you may not change " + what}
}

// Flag reads a flag within a's scope.
func (s *Service) Flag(ctx context.Context, a Actor, key string) (wire.Flag, error) {
	f, err := s.db.Flag(ctx, key)
	if err != nil {
		return f, err
	}
	return f, allowFlag(a, f.Team, false)
}

// ListFlags lists the flags a may read, and the flag-set version.
func (s *Service) ListFlags(ctx context.Context, a Actor) ([]wire.Flag, int64, error) {
	fs, v, err := s.db.ListFlags(ctx)
	if err != nil || a.Scope == nil {
		return fs, v, err
	}
	out := []wire.Flag{}
	for _, f := range fs {
		if allowFlag(a, f.Team, false) == nil {
			out = append(out, f)
		}
	}
	return out, v, nil
}

// MachineFlags returns the flags of fs a machine with tags receives: the
// whole fleet's, and those of the teams (teams: team → its tags) owning
// one of its tags — no more (data minimization: a machine learns nothing
// of other teams' flags).
func MachineFlags(fs []wire.Flag, teams map[string][]string, tags []string) []wire.Flag {
	out := make([]wire.Flag, 0, len(fs))
	for _, f := range fs {
		if f.Team == "" || slices.ContainsFunc(teams[f.Team], func(t string) bool { return slices.Contains(tags, t) }) {
			out = append(out, f)
		}
	}
	return out
}

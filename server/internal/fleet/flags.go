package fleet

import (
	"context"
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
	saved, err := s.db.SetFlag(ctx, a, f)
	if err != nil {
		return saved, err
	}
	s.flags.Set(saved.Version)
	return saved, nil
}

// ToggleFlag enables a disabled flag or disables an enabled one.
func (s *Service) ToggleFlag(ctx context.Context, a Actor, key string) (wire.Flag, error) {
	f, err := s.db.Flag(ctx, key)
	if err != nil {
		return f, err
	}
	f.Enabled = !f.Enabled
	return s.SetFlag(ctx, a, f)
}

// DeleteFlag removes a flag, then wakes agents' flag polls.
func (s *Service) DeleteFlag(ctx context.Context, a Actor, key string) error {
	if err := s.db.DeleteFlag(ctx, a, key); err != nil {
		return err
	}
	if v, err := s.db.FlagsVersion(ctx); err == nil {
		s.flags.Set(v)
	}
	return nil
}

package fleet

import (
	"context"
	"slices"
	"time"

	"github.com/wirefleet/wirefleet/server/internal/store"
)

// SweepSeen records, for every active machine, which of the policy's
// last_seen posture durations it was last seen within at now, changing
// only the machines whose answer moved (each a map change, so peers get
// a delta when a posture is lost or regained). Machines are seen through
// presence (requests and held polls, written in batches), so a posture's
// last_seen flips within about a minute of the truth. Every replica may
// sweep: a machine already up to date is left alone. It returns how many
// machines changed.
func (s *Service) SweepSeen(ctx context.Context, now time.Time) (int, error) {
	var within []time.Duration
	p, _, err := s.PolicyInForce(ctx)
	if err != nil {
		return 0, err
	}
	if p != nil {
		within = p.LastSeenWithin()
	}
	states, err := s.db.SeenStates(ctx, len(within) == 0)
	if err != nil {
		return 0, err
	}
	changed := 0
	var last store.Change
	for _, st := range states {
		var want []string
		for _, d := range within {
			if st.LastSeen != nil && now.Sub(*st.LastSeen) < d {
				want = append(want, d.String())
			}
		}
		if slices.Equal(want, st.Within) {
			continue
		}
		ch, err := s.db.SetSeenWithin(ctx, st.ID, want)
		if err != nil {
			return changed, err
		}
		if ch.Version > 0 {
			changed++
			last = ch
		}
	}
	if changed > 0 {
		return changed, s.synced(ctx, last)
	}
	return 0, nil
}

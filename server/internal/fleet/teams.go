package fleet

import (
	"context"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// PutTeam creates or replaces a team (owners only): the tags it owns and
// its admins and members, directly and through directory groups.
func (s *Service) PutTeam(ctx context.Context, a Actor, name string, req wire.PutTeamRequest) (wire.Team, error) {
	if err := Allow(a, ActOwner, Target{}); err != nil {
		return wire.Team{}, err
	}
	if err := wire.ValidateName(name); err != nil {
		return wire.Team{}, err
	}
	for i, t := range req.Tags {
		req.Tags[i] = strings.TrimPrefix(t, "tag:")
	}
	tags, err := wire.ValidateTags(req.Tags)
	if err != nil {
		return wire.Team{}, err
	}
	if len(tags) == 0 {
		return wire.Team{}, wire.Errorf(wire.CodeInvalidArgument, "a team owns at least one tag (its machines are those with one of them)")
	}
	req.Tags = tags
	for _, g := range append(append([]string{}, req.AdminGroups...), req.MemberGroups...) {
		if err := wire.ValidateDirectoryName(g); err != nil {
			return wire.Team{}, err
		}
	}
	t, err := s.db.PutTeam(ctx, a, name, req)
	if err == nil {
		s.wakeFlags(ctx) // which machines receive the team's flags
	}
	return t, err
}

// wakeFlags answers held flag polls after a change of which flags go
// where.
func (s *Service) wakeFlags(ctx context.Context) {
	if v, err := s.db.FlagsVersion(ctx); err == nil {
		s.flags.Set(v)
	}
}

// DeleteTeam removes a team (owners only).
func (s *Service) DeleteTeam(ctx context.Context, a Actor, name string) error {
	if err := Allow(a, ActOwner, Target{}); err != nil {
		return err
	}
	if err := s.db.DeleteTeam(ctx, a, name); err != nil {
		return err
	}
	s.wakeFlags(ctx)
	return nil
}

// Teams lists the teams: every one for an owner, one's own for a team
// role.
func (s *Service) Teams(ctx context.Context, a Actor) ([]wire.Team, error) {
	ts, err := s.db.Teams(ctx)
	if err != nil || a.Scope == nil {
		return ts, err
	}
	out := []wire.Team{}
	for _, t := range ts {
		for _, mine := range append(append([]string{}, a.Scope.AdminTeams...), a.Scope.MemberTeams...) {
			if t.Name == mine {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

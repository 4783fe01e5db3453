package fleet

import (
	"context"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// The company's directory, as an identity provider keeps it here (SCIM,
// the OIDC groups claim). Each change is one store transaction with its
// audit event; the machines it moves (their owner's groups, a
// deprovisioned person's machines) are map changes, and the call returns
// once the hub has them, so every held long-poll — and so every peer's
// filter — has been answered with the change.

// CreatePerson provisions a person.
func (s *Service) CreatePerson(ctx context.Context, a Actor, in store.PersonInput) (store.Person, error) {
	return s.db.CreatePerson(ctx, a, in)
}

// ChangePerson changes a person; deactivating them ends their sessions and
// API keys and does Config.Deprovision to their machines.
func (s *Service) ChangePerson(ctx context.Context, a Actor, id string, c store.PersonChange) (store.Person, error) {
	p, chs, err := s.db.ChangePerson(ctx, a, id, c, s.cfg.Deprovision)
	if err != nil {
		return p, err
	}
	if c.Active != nil && !*c.Active {
		s.log.Info("person deactivated by the directory", "person", p.Name, "machines_changed", len(chs), "mode", s.cfg.Deprovision)
	}
	return p, s.syncedAll(ctx, chs)
}

// DeletePerson removes a person (as deactivation does, then the account).
func (s *Service) DeletePerson(ctx context.Context, a Actor, id string) error {
	chs, err := s.db.DeletePerson(ctx, a, id, s.cfg.Deprovision)
	if err != nil {
		return err
	}
	return s.syncedAll(ctx, chs)
}

// CreateGroup provisions a directory group with its members.
func (s *Service) CreateGroup(ctx context.Context, a Actor, in store.GroupInput) (store.Group, error) {
	g, chs, err := s.db.CreateGroup(ctx, a, in)
	if err != nil {
		return g, err
	}
	return g, s.syncedAll(ctx, chs)
}

// ChangeGroup renames a group or changes its members.
func (s *Service) ChangeGroup(ctx context.Context, a Actor, id string, c store.GroupChange) (store.Group, error) {
	g, chs, err := s.db.ChangeGroup(ctx, a, id, c)
	if err != nil {
		return g, err
	}
	return g, s.syncedAll(ctx, chs)
}

// DeleteGroup removes a directory group.
func (s *Service) DeleteGroup(ctx context.Context, a Actor, id string) error {
	chs, err := s.db.DeleteGroup(ctx, a, id)
	if err != nil {
		return err
	}
	return s.syncedAll(ctx, chs)
}

// SyncGroups makes a person's groups those of the OIDC groups claim at
// their sign-in.
func (s *Service) SyncGroups(ctx context.Context, a Actor, id string, names []string) error {
	chs, err := s.db.SyncGroupNames(ctx, a, id, names)
	if err != nil {
		return err
	}
	return s.syncedAll(ctx, chs)
}

// syncedAll waits until the hub has every change (the newest suffices:
// the hub applies changes in order).
func (s *Service) syncedAll(ctx context.Context, chs []store.Change) error {
	var last store.Change
	for _, ch := range chs {
		if ch.Version > last.Version {
			last = ch
		}
	}
	if last.Version == 0 {
		return nil
	}
	return s.synced(ctx, last)
}

// CreateSCIMToken makes a bearer token for an identity provider's SCIM
// client and returns its secret once.
func (s *Service) CreateSCIMToken(ctx context.Context, a Actor) (wire.CreateSCIMTokenResponse, error) {
	sec, hash := secret.New(wire.PrefixSCIMToken)
	t, err := s.db.CreateSCIMToken(ctx, a, secret.Display(sec), hash)
	if err != nil {
		return wire.CreateSCIMTokenResponse{}, err
	}
	return wire.CreateSCIMTokenResponse{Token: t, Secret: sec}, nil
}

// RevokeSCIMToken revokes a SCIM token by ID or prefix.
func (s *Service) RevokeSCIMToken(ctx context.Context, a Actor, idOrPrefix string) error {
	return s.db.RevokeSCIMToken(ctx, a, idOrPrefix)
}

// AuthenticateSCIM returns the live SCIM token with the given hash (and
// notes its use).
func (s *Service) AuthenticateSCIM(ctx context.Context, hash string) (wire.SCIMToken, error) {
	return s.db.SCIMTokenByHash(ctx, hash)
}

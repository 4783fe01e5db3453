package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// CreateAdmin makes an admin with a random password (bcrypt-hashed: people
// choose passwords, so they get a slow hash) and a first API key, and
// returns both secrets once.
func (s *Service) CreateAdmin(ctx context.Context, a Actor, name string) (wire.CreateAdminResponse, error) {
	if err := wire.ValidateName(name); err != nil {
		return wire.CreateAdminResponse{}, err
	}
	pw, ph, err := s.newPassword()
	if err != nil {
		return wire.CreateAdminResponse{}, err
	}
	key, keyHash := secret.New(wire.PrefixAdminKey)
	ad, err := s.db.CreateAdmin(ctx, a, name, ph, store.NewAPIKey{Prefix: secret.Display(key), Hash: keyHash})
	if err != nil {
		return wire.CreateAdminResponse{}, err
	}
	return wire.CreateAdminResponse{Admin: ad, Password: pw, APIKey: key}, nil
}

// DeleteAdmin removes an admin (and with it its keys and sessions).
func (s *Service) DeleteAdmin(ctx context.Context, a Actor, idOrName string) error {
	return s.db.DeleteAdmin(ctx, a, idOrName)
}

// ResetPassword gives an admin a new random password, returned once, and
// ends its sessions.
func (s *Service) ResetPassword(ctx context.Context, a Actor, idOrName string) (wire.PasswordResponse, error) {
	pw, ph, err := s.newPassword()
	if err != nil {
		return wire.PasswordResponse{}, err
	}
	ad, err := s.db.SetAdminPassword(ctx, a, idOrName, ph)
	if err != nil {
		return wire.PasswordResponse{}, err
	}
	return wire.PasswordResponse{Admin: ad, Password: pw}, nil
}

// newPassword returns a random password (120 bits, easy to paste) and its
// bcrypt hash.
func (s *Service) newPassword() (string, string, error) {
	pw, _ := secret.New("")
	pw = pw[:24]
	ph, err := bcrypt.GenerateFromPassword([]byte(pw), s.cfg.BcryptCost)
	if err != nil {
		return "", "", fmt.Errorf("fleet: hash password: %w", err)
	}
	return pw, string(ph), nil
}

// CreateAPIKey creates an API key for the admin owner; an empty owner means
// the acting admin (which the local socket's operator is not).
func (s *Service) CreateAPIKey(ctx context.Context, a Actor, owner string, ttl time.Duration) (wire.CreateAPIKeyResponse, error) {
	if a.Scope != nil {
		// A team role's key carries its scope: for oneself only, and
		// only while one administers a team.
		if owner != "" && owner != a.Scope.Person || !a.Scope.Administers() {
			return wire.CreateAPIKeyResponse{}, Allow(a, ActOwner, Target{})
		}
		owner = a.Scope.Person
	}
	if owner == "" {
		name, ok := strings.CutPrefix(a.Name, "admin:")
		if !ok || name == "" {
			return wire.CreateAPIKeyResponse{}, wire.Errorf(wire.CodeInvalidArgument, "admin is required over the local socket")
		}
		owner = name
	}
	var exp *time.Time
	if ttl < 0 {
		return wire.CreateAPIKeyResponse{}, wire.Errorf(wire.CodeInvalidArgument, "expiry must be positive")
	}
	if ttl > 0 {
		t := s.Now().Add(ttl).UTC()
		exp = &t
	}
	sec, hash := secret.New(wire.PrefixAdminKey)
	k, err := s.db.CreateAPIKey(ctx, a, owner, store.NewAPIKey{Prefix: secret.Display(sec), Hash: hash, ExpiresAt: exp})
	if err != nil {
		return wire.CreateAPIKeyResponse{}, err
	}
	return wire.CreateAPIKeyResponse{Key: k, Secret: sec}, nil
}

// RevokeAPIKey revokes an API key by ID or prefix.
func (s *Service) RevokeAPIKey(ctx context.Context, a Actor, idOrPrefix string) error {
	if a.Scope != nil {
		ks, err := s.ListAPIKeys(ctx, a)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(ks, func(k wire.APIKey) bool { return k.ID == idOrPrefix || k.Prefix == idOrPrefix }) {
			return Allow(a, ActOwner, Target{})
		}
	}
	return s.db.RevokeAPIKey(ctx, a, idOrPrefix)
}

// TrimAudit deletes up to batch audit events older than before (the
// retention, --audit-retention) and records the trim as an event.
func (s *Service) TrimAudit(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.db.TrimAudit(ctx, Actor{Name: "system:audit-retention", SourceIP: "local"}, before, batch)
}

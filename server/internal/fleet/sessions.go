package fleet

import (
	"context"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// The console's sessions and single sign-on's logins in progress: small
// writes of their own, through here like every other.

// CreateSession starts an admin's session (only its hash is stored).
func (s *Service) CreateSession(ctx context.Context, a Actor, adminID, hash, csrf string, ttl time.Duration) error {
	return s.db.CreateSession(ctx, a, adminID, hash, csrf, ttl)
}

// DeleteSession ends a session (sign-out).
func (s *Service) DeleteSession(ctx context.Context, a Actor, hash string) error {
	return s.db.DeleteSession(ctx, a, hash)
}

// SaveSSOLogin keeps a sign-in at the provider in progress for one
// callback (by its state's hash).
func (s *Service) SaveSSOLogin(ctx context.Context, stateHash string, l store.SSOLogin, maxAge time.Duration) error {
	return s.db.SaveSSOLogin(ctx, stateHash, l, maxAge)
}

// TakeSSOLogin returns and forgets a sign-in in progress: a state works
// once.
func (s *Service) TakeSSOLogin(ctx context.Context, stateHash string, maxAge time.Duration) (store.SSOLogin, error) {
	return s.db.TakeSSOLogin(ctx, stateHash, maxAge)
}

// SSOAdmin returns the account of a user the provider signed in, made on
// the first sign-in, with the role the provider decides at each.
func (s *Service) SSOAdmin(ctx context.Context, a Actor, subject, email, role string) (wire.Admin, bool, error) {
	return s.db.SSOAdmin(ctx, a, subject, email, role)
}

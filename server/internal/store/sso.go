package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// SSOLogin is a sign-in in progress through the identity provider.
type SSOLogin struct {
	Nonce, Verifier string
	CreatedAt       time.Time
}

// SaveSSOLogin keeps a sign-in in progress under its state's hash (and
// drops those older than maxAge).
func (db *DB) SaveSSOLogin(ctx context.Context, stateHash string, l SSOLogin, maxAge time.Duration) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sso_logins WHERE created_at < ?`), ms(db.Now().Add(-maxAge))); err != nil {
			return fmt.Errorf("store: expire sign-ins: %w", err)
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO sso_logins (state_hash, nonce, verifier, created_at) VALUES (?, ?, ?, ?)`),
			stateHash, l.Nonce, l.Verifier, ms(db.Now()))
		if err != nil {
			return fmt.Errorf("store: save a sign-in: %w", err)
		}
		return nil
	})
}

// TakeSSOLogin returns the sign-in under stateHash and deletes it, so a
// state is good for one callback; ErrNotFound for an unknown, used or
// older than maxAge one.
func (db *DB) TakeSSOLogin(ctx context.Context, stateHash string, maxAge time.Duration) (SSOLogin, error) {
	var (
		l       SSOLogin
		created int64
	)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM sso_logins WHERE state_hash = ? RETURNING nonce, verifier, created_at`), stateHash).Scan(&l.Nonce, &l.Verifier, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return l, err
		}
		return l, fmt.Errorf("store: take a sign-in: %w", err)
	}
	l.CreatedAt = fromMS(created)
	if db.Now().Sub(l.CreatedAt) > maxAge {
		return l, ErrNotFound
	}
	return l, nil
}

// SSOAdmin returns the account the identity provider's user (subject,
// with this e-mail address) signs in as, creating it on the first sign-in
// with role (wire.RoleAdmin or wire.RoleMember). The provider decides the
// role at every sign-in: an account whose role changed there changes here
// (audited as admin.role). An account of the same name with a password is
// not taken over.
func (db *DB) SSOAdmin(ctx context.Context, a Actor, subject, email, role string) (wire.Admin, bool, error) {
	var (
		ad      wire.Admin
		created bool
	)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var sub sql.NullString
		var at int64
		var pw string
		var active int
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, name, created_at, sso_subject, role, password_hash, active FROM admins WHERE name = ?`), email).Scan(&ad.ID, &ad.Name, &at, &sub, &ad.Role, &pw, &active)
		if err == nil && active == 0 {
			return wire.Errorf(wire.CodeForbidden, "%s has been deactivated in the company's directory", email)
		}
		if err == nil && !sub.Valid && pw == scimPassword {
			// Provisioned by the directory: the first sign-in adopts it.
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET sso_subject = ? WHERE id = ?`), subject, ad.ID); err != nil {
				return err
			}
			sub = sql.NullString{String: subject, Valid: true}
			if err := db.audit(ctx, tx, a, "person.adopt", ad.ID, map[string]any{"name": email}); err != nil {
				return err
			}
		}
		if err == nil {
			if !sub.Valid || sub.String != subject {
				return wire.Errorf(wire.CodeConflict, "an admin named %s exists already and does not come from single sign-on; delete it or sign in with its password", email)
			}
			ad.CreatedAt = fromMS(at)
			if ad.Role == role {
				return nil
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET role = ? WHERE id = ?`), role, ad.ID); err != nil {
				return err
			}
			old := ad.Role
			ad.Role = role
			return db.audit(ctx, tx, a, "admin.role", ad.ID, map[string]any{"name": email, "old_role": old, "role": role})
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		ad = wire.Admin{ID: newID("adm_"), Name: email, CreatedAt: fromMS(ms(db.Now())), Role: role}
		// "!sso" is no bcrypt hash: no password can ever match it.
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO admins (id, name, password_hash, created_at, sso_subject, role) VALUES (?, ?, '!sso', ?, ?, ?)`),
			ad.ID, email, ms(ad.CreatedAt), subject, role); err != nil {
			return err
		}
		created = true
		return db.audit(ctx, tx, a, "admin.create", ad.ID, map[string]any{"name": email, "sso": true, "role": role})
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return ad, false, we
		}
		return ad, false, fmt.Errorf("store: single sign-on admin: %w", err)
	}
	return ad, created, nil
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Session is a signed-in admin on the web page.
type Session struct {
	Admin     wire.Admin
	CSRF      string // per-session token every state-changing form carries
	ExpiresAt time.Time
}

// CreateSession stores a session under the hash of its cookie secret and
// audits the sign-in.
func (db *DB) CreateSession(ctx context.Context, a Actor, adminID, hash, csrf string, ttl time.Duration) error {
	now := db.Now()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE expires_at <= ?`), ms(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO sessions (hash, admin_id, csrf, created_at, expires_at, source_ip) VALUES (?, ?, ?, ?, ?, ?)`),
			hash, adminID, csrf, ms(now), ms(now.Add(ttl)), a.SourceIP); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "admin.login", adminID, nil)
	})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionByHash returns the live session with the given cookie hash.
func (db *DB) SessionByHash(ctx context.Context, hash string) (Session, error) {
	var s Session
	var c, exp int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT a.id, a.name, a.created_at, a.role, s.csrf, s.expires_at
		FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.hash = ? AND s.expires_at > ? AND a.active = 1`), hash, ms(db.Now())).
		Scan(&s.Admin.ID, &s.Admin.Name, &c, &s.Admin.Role, &s.CSRF, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("store: read session: %w", err)
	}
	s.Admin.CreatedAt, s.ExpiresAt = fromMS(c), fromMS(exp)
	return s, nil
}

// DeleteSession signs a session out.
func (db *DB) DeleteSession(ctx context.Context, a Actor, hash string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var adminID string
		err := tx.QueryRowContext(ctx, db.q(`SELECT admin_id FROM sessions WHERE hash = ?`), hash).Scan(&adminID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE hash = ?`), hash); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "admin.logout", adminID, nil)
	})
}

// SetAdminPassword replaces an admin's password hash and ends its sessions.
func (db *DB) SetAdminPassword(ctx context.Context, a Actor, idOrName, passwordHash string) (wire.Admin, error) {
	ad, err := db.Admin(ctx, idOrName)
	if err != nil {
		return ad, err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE admins SET password_hash = ? WHERE id = ?`), passwordHash, ad.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM sessions WHERE admin_id = ?`), ad.ID); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "admin.passwd", ad.ID, map[string]any{"name": ad.Name})
	})
	if err != nil {
		return ad, fmt.Errorf("store: set password: %w", err)
	}
	return ad, nil
}

package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// AdminCount returns the number of admins; 0 means first start.
func (db *DB) AdminCount(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM admins`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count admins: %w", err)
	}
	return n, nil
}

// NewAPIKey is what CreateAdmin and CreateAPIKey store for a key.
type NewAPIKey struct {
	Prefix    string
	Hash      string
	ExpiresAt *time.Time
}

// CreateAdmin creates an admin with a password hash and a first API key.
func (db *DB) CreateAdmin(ctx context.Context, a Actor, name, passwordHash string, key NewAPIKey) (wire.Admin, error) {
	ad := wire.Admin{ID: newID("adm_"), Name: name, CreatedAt: fromMS(ms(db.Now()))}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO admins (id, name, password_hash, created_at) VALUES (?, ?, ?, ?)`),
			ad.ID, name, passwordHash, ms(ad.CreatedAt))
		if isUnique(err, "name") {
			return wire.Errorf(wire.CodeConflict, "an admin named %q already exists", name)
		}
		if err != nil {
			return err
		}
		if err := db.insertAPIKey(ctx, tx, ad.ID, key); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "admin.create", ad.ID, map[string]any{"name": name})
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return ad, we
		}
		return ad, fmt.Errorf("store: create admin: %w", err)
	}
	return ad, nil
}

// ListAdmins returns every account (admins and members, with their
// directory groups and state) ordered by name.
func (db *DB) ListAdmins(ctx context.Context) ([]wire.Admin, error) {
	people, err := db.People(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Admin, 0, len(people))
	for _, p := range people {
		out = append(out, p.Admin)
	}
	return out, nil
}

// Admin returns an admin by ID or name.
func (db *DB) Admin(ctx context.Context, idOrName string) (wire.Admin, error) {
	var ad wire.Admin
	var c int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, name, created_at FROM admins WHERE id = ? OR name = ?`), idOrName, idOrName).Scan(&ad.ID, &ad.Name, &c)
	if errors.Is(err, sql.ErrNoRows) {
		return ad, ErrNotFound
	}
	if err != nil {
		return ad, fmt.Errorf("store: read admin: %w", err)
	}
	ad.CreatedAt = fromMS(c)
	return ad, nil
}

// DeleteAdmin deletes an admin and its API keys. The last admin cannot be
// deleted: that would lock everyone out of the web page.
func (db *DB) DeleteAdmin(ctx context.Context, a Actor, idOrName string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id, name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, name FROM admins WHERE id = ? OR name = ?`), idOrName, idOrName).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM admins`).Scan(&n); err != nil {
			return err
		}
		if n <= 1 {
			return wire.Errorf(wire.CodeConflict, "refusing to delete the last admin")
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM admins WHERE id = ?`), id); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "admin.delete", id, map[string]any{"name": name})
	})
	var we *wire.Error
	if err != nil && !errors.As(err, &we) {
		return fmt.Errorf("store: delete admin: %w", err)
	}
	return err
}

func (db *DB) insertAPIKey(ctx context.Context, tx *sql.Tx, adminID string, k NewAPIKey) error {
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO api_keys (id, admin_id, prefix, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`),
		newID("key_"), adminID, k.Prefix, k.Hash, ms(db.Now()), nullMS(k.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert API key: %w", err)
	}
	return nil
}

// CreateAPIKey adds an API key to an admin.
func (db *DB) CreateAPIKey(ctx context.Context, a Actor, adminIDOrName string, k NewAPIKey) (wire.APIKey, error) {
	ad, err := db.Admin(ctx, adminIDOrName)
	if err != nil {
		return wire.APIKey{}, err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.insertAPIKey(ctx, tx, ad.ID, k); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "apikey.create", ad.ID, map[string]any{"prefix": k.Prefix, "admin": ad.Name})
	})
	if err != nil {
		return wire.APIKey{}, fmt.Errorf("store: create API key: %w", err)
	}
	keys, err := db.listAPIKeys(ctx, `WHERE k.hash = ?`, k.Hash)
	if err != nil || len(keys) == 0 {
		return wire.APIKey{}, fmt.Errorf("store: read new API key: %w", err)
	}
	return keys[0], nil
}

// ListAPIKeys returns every API key, newest first.
func (db *DB) ListAPIKeys(ctx context.Context) ([]wire.APIKey, error) {
	return db.listAPIKeys(ctx, "")
}

func (db *DB) listAPIKeys(ctx context.Context, where string, args ...any) ([]wire.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT k.id, k.prefix, a.name, k.created_at, k.expires_at, k.last_used_at, k.revoked_at
		FROM api_keys k JOIN admins a ON a.id = k.admin_id `+where+` ORDER BY k.created_at DESC, k.id`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list API keys: %w", err)
	}
	defer rows.Close()
	out := []wire.APIKey{}
	for rows.Next() {
		var k wire.APIKey
		var c int64
		var exp, used, rev sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Prefix, &k.Admin, &c, &exp, &used, &rev); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMS(c)
		k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNullMS(exp), fromNullMS(used), fromNullMS(rev)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key by ID or prefix.
func (db *DB) RevokeAPIKey(ctx context.Context, a Actor, idOrPrefix string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM api_keys WHERE id = ? OR prefix = ?`), idOrPrefix, idOrPrefix).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(db.Now()), id); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "apikey.revoke", id, nil)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: revoke API key: %w", err)
	}
	return err
}

// AdminByAPIKey returns the account owning the live key with the given
// hash (a member's too: what it may do is its scope's, ScopeOf).
func (db *DB) AdminByAPIKey(ctx context.Context, hash string) (wire.Admin, error) {
	var ad wire.Admin
	var c int64
	var exp, rev sql.NullInt64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT a.id, a.name, a.created_at, a.role, k.expires_at, k.revoked_at FROM api_keys k JOIN admins a ON a.id = k.admin_id WHERE k.hash = ? AND a.active = 1`), hash).
		Scan(&ad.ID, &ad.Name, &c, &ad.Role, &exp, &rev)
	if errors.Is(err, sql.ErrNoRows) {
		return ad, ErrNotFound
	}
	if err != nil {
		return ad, fmt.Errorf("store: look up API key: %w", err)
	}
	if rev.Valid || (exp.Valid && exp.Int64 <= ms(db.Now())) {
		return ad, ErrNotFound
	}
	ad.CreatedAt = fromMS(c)
	return ad, nil
}

// AdminPasswordHash returns the password hash of an admin, for sign-in.
func (db *DB) AdminPasswordHash(ctx context.Context, name string) (wire.Admin, string, error) {
	var ad wire.Admin
	var c int64
	var h string
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, name, created_at, password_hash FROM admins WHERE name = ? AND active = 1`), name).Scan(&ad.ID, &ad.Name, &c, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return ad, "", ErrNotFound
	}
	if err != nil {
		return ad, "", fmt.Errorf("store: read admin: %w", err)
	}
	ad.CreatedAt = fromMS(c)
	return ad, h, nil
}

// AuditFilter narrows ListAudit.
type AuditFilter struct {
	Before int64  // only events with ID < Before; 0 = newest
	Limit  int    // page size, default 100, at most 1000
	Action string // prefix match: "machine." matches machine.revoke
	Target string
	Actor  string
	// Targets, when not nil, limits the events to these targets (a team
	// role's machines and tokens).
	Targets []string
	// Since and Until bound the events' times (zero: unbounded; Until is
	// exclusive).
	Since, Until time.Time
}

// Audit writes a standalone audit event, for actions that change nothing
// else (a refused enrollment, a sign-in).
func (db *DB) Audit(ctx context.Context, a Actor, action, target string, details map[string]any) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.audit(ctx, tx, a, action, target, details) })
}

// ListAudit returns a page of audit events, newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) (wire.AuditPage, error) {
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	query := `SELECT id, at, actor, action, target, source_ip, details FROM audit WHERE 1=1`
	var args []any
	if f.Before > 0 {
		query += ` AND id < ?`
		args = append(args, f.Before)
	}
	if f.Action != "" {
		query += ` AND action LIKE ? ESCAPE '\'`
		args = append(args, likeEscape(f.Action)+"%")
	}
	if f.Target != "" {
		query += ` AND target = ?`
		args = append(args, f.Target)
	}
	if f.Actor != "" {
		query += ` AND actor = ?`
		args = append(args, f.Actor)
	}
	if f.Targets != nil {
		if len(f.Targets) == 0 {
			return wire.AuditPage{Events: []wire.AuditEvent{}}, nil
		}
		query += ` AND target IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(f.Targets)), ", ") + `)`
		for _, t := range f.Targets {
			args = append(args, t)
		}
	}
	if !f.Since.IsZero() {
		query += ` AND at >= ?`
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		query += ` AND at < ?`
		args = append(args, f.Until.UnixMilli())
	}
	query += ` ORDER BY id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return wire.AuditPage{}, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	page := wire.AuditPage{Events: []wire.AuditEvent{}}
	for rows.Next() {
		var e wire.AuditEvent
		var at int64
		var details string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.SourceIP, &details); err != nil {
			return page, err
		}
		e.At = fromMS(at)
		if details != "{}" {
			_ = jsonUnmarshal(details, &e.Details)
		}
		page.Events = append(page.Events, e)
	}
	if len(page.Events) > f.Limit {
		page.Events = page.Events[:f.Limit]
		page.Next = page.Events[f.Limit-1].ID
	}
	return page, rows.Err()
}

func jsonUnmarshal(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	return dec.Decode(v)
}

// TrimAudit deletes the audit events older than before, at most batch of
// them (the oldest first), and records the trim itself as an event
// (audit.trimmed) when it deleted any. It returns how many went. The ids
// grow with time, so the oldest events are the lowest ids: the scan
// stops at the first young one.
func (db *DB) TrimAudit(ctx context.Context, a Actor, before time.Time, batch int) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ? ORDER BY id LIMIT ?)`), before.UnixMilli(), batch)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return db.audit(ctx, tx, a, "audit.trimmed", "", map[string]any{"deleted": n, "before": before.UTC().Format(time.RFC3339)})
	})
	if err != nil {
		return 0, fmt.Errorf("store: trim audit log: %w", err)
	}
	return n, nil
}

// AuditSize is how many events the audit log holds and when the oldest
// was written (zero when it is empty).
func (db *DB) AuditSize(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(at) FROM audit`).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("store: audit size: %w", err)
	}
	if !oldest.Valid {
		return n, time.Time{}, nil
	}
	return n, time.UnixMilli(oldest.Int64), nil
}

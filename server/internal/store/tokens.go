package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// NewToken is what CreateToken stores. Hash is the SHA-256 of the secret,
// which the store never sees.
type NewToken struct {
	Prefix    string
	Hash      string
	Reusable  bool
	Ephemeral bool
	MaxUses   int // 0 = unlimited; forced to 1 for single-use tokens
	Tags      []string
	ExpiresAt *time.Time
	// MachineExpiry is how long machines it enrolls stay enrolled (0: the
	// server's --machine-expiry).
	MachineExpiry time.Duration
	// Owner is the person whose machines it enrolls ("" none).
	Owner string
}

const tokenCols = `id, prefix, reusable, ephemeral, max_uses, uses, tags, expires_at, created_by, created_at, revoked_at, machine_expiry_s, owner`

func scanToken(row interface{ Scan(...any) error }, now time.Time) (wire.Token, error) {
	var (
		t                   wire.Token
		reusable, ephemeral int
		tags                string
		expires, revoked    sql.NullInt64
		lifetime            sql.NullInt64
		created             int64
		owner               sql.NullString
	)
	err := row.Scan(&t.ID, &t.Prefix, &reusable, &ephemeral, &t.MaxUses, &t.Uses, &tags, &expires, &t.CreatedBy, &created, &revoked, &lifetime, &owner)
	if err != nil {
		return t, err
	}
	t.Reusable, t.Ephemeral = reusable != 0, ephemeral != 0
	t.Tags = parseList(tags)
	t.ExpiresAt, t.RevokedAt = fromNullMS(expires), fromNullMS(revoked)
	t.CreatedAt = fromMS(created)
	t.Owner = owner.String
	t.State = tokenState(t, now)
	if lifetime.Valid {
		t.MachineExpiry = (time.Duration(lifetime.Int64) * time.Second).String()
	}
	return t, nil
}

// machineLifetime is how long a machine enrolled with t stays enrolled:
// the token's own lifetime, else def (0: forever).
func machineLifetime(t wire.Token, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(t.MachineExpiry); err == nil && d > 0 {
		return d
	}
	return def
}

func tokenState(t wire.Token, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	case t.MaxUses > 0 && t.Uses >= t.MaxUses:
		return "exhausted"
	default:
		return "active"
	}
}

// CreateToken stores a new enrollment token.
func (db *DB) CreateToken(ctx context.Context, a Actor, nt NewToken) (wire.Token, error) {
	if !nt.Reusable {
		nt.MaxUses = 1
	}
	id := newID("tok_")
	now := db.Now()
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var lifetime sql.NullInt64
		if nt.MachineExpiry > 0 {
			lifetime = sql.NullInt64{Int64: int64(nt.MachineExpiry / time.Second), Valid: true}
		}
		if nt.Owner != "" {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM admins WHERE name = ?`), nt.Owner).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return wire.Errorf(wire.CodeInvalidArgument, "no person is named %q (see `wirefleet-server directory people`)", nt.Owner)
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO enroll_tokens (id, prefix, hash, reusable, ephemeral, max_uses, uses, tags, expires_at, created_by, created_at, machine_expiry_s, owner)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`),
			id, nt.Prefix, nt.Hash, b2i(nt.Reusable), b2i(nt.Ephemeral), nt.MaxUses, jsonList(nt.Tags), nullMS(nt.ExpiresAt), a.Name, ms(now), lifetime, nullStr(nt.Owner))
		if err != nil {
			return fmt.Errorf("insert token: %w", err)
		}
		details := map[string]any{
			"prefix": nt.Prefix, "reusable": nt.Reusable, "ephemeral": nt.Ephemeral, "max_uses": nt.MaxUses, "tags": nt.Tags,
		}
		if nt.Owner != "" {
			details["owner"] = nt.Owner
		}
		return db.audit(ctx, tx, a, "token.create", id, details)
	})
	if err != nil {
		return wire.Token{}, wrapErr("create token", err)
	}
	return db.Token(ctx, id)
}

// Token returns one token by ID.
func (db *DB) Token(ctx context.Context, id string) (wire.Token, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, db.q(`SELECT `+tokenCols+` FROM enroll_tokens WHERE id = ?`), id), db.Now())
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("store: read token: %w", err)
	}
	return t, nil
}

// ListTokens returns all tokens, newest first.
func (db *DB) ListTokens(ctx context.Context) ([]wire.Token, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM enroll_tokens ORDER BY created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	now := db.Now()
	out := []wire.Token{}
	for rows.Next() {
		t, err := scanToken(rows, now)
		if err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token by ID or prefix. Revoking twice is not an
// error; the first revocation time is kept.
func (db *DB) RevokeToken(ctx context.Context, a Actor, idOrPrefix string) (wire.Token, error) {
	var id string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM enroll_tokens WHERE id = ? OR prefix = ?`), idOrPrefix, idOrPrefix).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE enroll_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), ms(db.Now()), id); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "token.revoke", id, nil)
	})
	if errors.Is(err, ErrNotFound) {
		return wire.Token{}, err
	}
	if err != nil {
		return wire.Token{}, fmt.Errorf("store: revoke token: %w", err)
	}
	return db.Token(ctx, id)
}

// consumeToken takes one use of the token with the given hash inside tx.
// The conditional UPDATE is the atomic step: of N concurrent enrollments
// with a single-use token, exactly one sees a row come back. When none does,
// the token is read again to say why.
func (db *DB) consumeToken(ctx context.Context, tx *sql.Tx, hash string) (wire.Token, error) {
	now := db.Now()
	row := tx.QueryRowContext(ctx, db.q(`UPDATE enroll_tokens SET uses = uses + 1
		WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) AND (max_uses = 0 OR uses < max_uses)
		RETURNING `+tokenCols), hash, ms(now))
	t, err := scanToken(row, now)
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("consume token: %w", err)
	}
	t, err = scanToken(tx.QueryRowContext(ctx, db.q(`SELECT `+tokenCols+` FROM enroll_tokens WHERE hash = ?`), hash), now)
	if errors.Is(err, sql.ErrNoRows) {
		return t, wire.Errorf(wire.CodeTokenInvalid, "enrollment token is not known to this server")
	}
	if err != nil {
		return t, fmt.Errorf("read token: %w", err)
	}
	switch t.State {
	case "revoked":
		return t, wire.Errorf(wire.CodeTokenRevoked, "enrollment token %s was revoked", t.Prefix)
	case "expired":
		return t, wire.Errorf(wire.CodeTokenExpired, "enrollment token %s expired at %s", t.Prefix, t.ExpiresAt.Format(time.RFC3339))
	default:
		if t.Reusable {
			return t, wire.Errorf(wire.CodeTokenExhausted, "enrollment token %s has been used %d of %d times", t.Prefix, t.Uses, t.MaxUses)
		}
		return t, wire.Errorf(wire.CodeTokenExhausted, "enrollment token %s is single-use and has already been used", t.Prefix)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

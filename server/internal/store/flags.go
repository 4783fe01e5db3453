package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

const flagCols = `key, type, enabled, default_value, rules, description, version, updated_at, updated_by, team`

func scanFlag(row interface{ Scan(...any) error }) (wire.Flag, error) {
	var f wire.Flag
	var enabled int
	var def, rules string
	var at int64
	if err := row.Scan(&f.Key, &f.Type, &enabled, &def, &rules, &f.Description, &f.Version, &at, &f.UpdatedBy, &f.Team); err != nil {
		return f, err
	}
	f.Enabled = enabled != 0
	f.Default = json.RawMessage(def)
	f.Rules = []wire.FlagRule{}
	_ = json.Unmarshal([]byte(rules), &f.Rules)
	f.UpdatedAt = fromMS(at)
	return f, nil
}

// FlagsVersion returns the version of the flag set (the agents' ETag).
func (db *DB) FlagsVersion(ctx context.Context) (int64, error) {
	var s string
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaFlags).Scan(&s); err != nil {
		return 0, fmt.Errorf("store: read flags version: %w", err)
	}
	return strconv.ParseInt(s, 10, 64)
}

func (db *DB) bumpFlags(ctx context.Context, tx *sql.Tx) (int64, error) {
	var s string
	if err := tx.QueryRowContext(ctx, db.q(`UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = ? RETURNING value`), metaFlags).Scan(&s); err != nil {
		return 0, fmt.Errorf("bump flags version: %w", err)
	}
	return strconv.ParseInt(s, 10, 64)
}

// SetFlag creates or replaces a flag (validated by the caller) and returns
// it with its new version.
func (db *DB) SetFlag(ctx context.Context, a Actor, f wire.Flag) (wire.Flag, error) {
	rules := f.Rules
	if rules == nil {
		rules = []wire.FlagRule{}
	}
	rb, err := json.Marshal(rules)
	if err != nil {
		return f, err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if f.Team != "" {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM teams WHERE name = ?`), f.Team).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return wire.Errorf(wire.CodeInvalidArgument, "no team is named %q (see `wirefleet-server teams list`)", f.Team)
			}
		}
		v, err := db.bumpFlags(ctx, tx)
		if err != nil {
			return err
		}
		now := ms(db.Now())
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO flags (`+flagCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET type = excluded.type, enabled = excluded.enabled, default_value = excluded.default_value,
			rules = excluded.rules, description = excluded.description, version = excluded.version, updated_at = excluded.updated_at, updated_by = excluded.updated_by, team = excluded.team`),
			f.Key, f.Type, b2i(f.Enabled), string(f.Default), string(rb), f.Description, v, now, a.Name, f.Team)
		if err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "flag.set", f.Key, map[string]any{"version": v, "enabled": f.Enabled, "type": f.Type,
			"default": json.RawMessage(f.Default), "rules": len(rules), "team": f.Team})
	})
	if err != nil {
		return f, wrapErr("set flag", err)
	}
	return db.Flag(ctx, f.Key)
}

// Flag returns one flag.
func (db *DB) Flag(ctx context.Context, key string) (wire.Flag, error) {
	f, err := scanFlag(db.r.QueryRowContext(ctx, db.q(`SELECT `+flagCols+` FROM flags WHERE key = ?`), key))
	if errors.Is(err, sql.ErrNoRows) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("store: read flag: %w", err)
	}
	return f, nil
}

// ListFlags returns every flag by key, and the flag-set version they make
// up (read in one transaction, so the two agree).
func (db *DB) ListFlags(ctx context.Context) ([]wire.Flag, int64, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list flags: %w", err)
	}
	defer tx.Rollback()
	var vs string
	if err := tx.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaFlags).Scan(&vs); err != nil {
		return nil, 0, fmt.Errorf("store: list flags: %w", err)
	}
	v, _ := strconv.ParseInt(vs, 10, 64)
	rows, err := tx.QueryContext(ctx, `SELECT `+flagCols+` FROM flags ORDER BY key`)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list flags: %w", err)
	}
	defer rows.Close()
	out := []wire.Flag{}
	for rows.Next() {
		f, err := scanFlag(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, f)
	}
	return out, v, rows.Err()
}

// DeleteFlag removes a flag.
func (db *DB) DeleteFlag(ctx context.Context, a Actor, key string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM flags WHERE key = ?`), key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if _, err := db.bumpFlags(ctx, tx); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "flag.delete", key, nil)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: delete flag: %w", err)
	}
	return err
}

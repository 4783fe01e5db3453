package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PolicyChange is the prefix of netmap_log.machine_id for a policy change:
// "policy:VERSION".
const PolicyChange = "policy:"

// PolicyVersionOf returns the policy version a change names (ok=false for a
// machine change).
func PolicyVersionOf(c Change) (int64, bool) {
	s, ok := strings.CutPrefix(c.MachineID, PolicyChange)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// StoredPolicy is one version of the access-control policy. Text "" is no
// policy: every machine reaches every machine.
type StoredPolicy struct {
	Version    int64
	Text       string
	Author     string
	CreatedAt  time.Time
	MapVersion uint64
}

// Policy returns the policy in force (Version 0 and no text when none was
// ever set).
func (db *DB) Policy(ctx context.Context) (StoredPolicy, error) {
	return db.policyWhere(ctx, db.r, `ORDER BY version DESC LIMIT 1`)
}

// PolicyVersion returns one version of the policy.
func (db *DB) PolicyVersion(ctx context.Context, v int64) (StoredPolicy, error) {
	p, err := db.policyWhere(ctx, db.r, `WHERE version = ?`, v)
	if err == nil && p.Version == 0 && v != 0 {
		return p, ErrNotFound
	}
	return p, err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) policyWhere(ctx context.Context, q querier, where string, args ...any) (StoredPolicy, error) {
	var p StoredPolicy
	var created int64
	err := q.QueryRowContext(ctx, db.q(`SELECT version, body, author, created_at, map_version FROM policies `+where), args...).
		Scan(&p.Version, &p.Text, &p.Author, &created, &p.MapVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return StoredPolicy{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("store: read policy: %w", err)
	}
	p.CreatedAt = fromMS(created)
	return p, nil
}

// SetPolicy stores text (checked by the caller; "" removes the policy) as
// the next version, logs the network-map change that applies it, and
// audits it with diff. An unchanged text changes nothing (ok=false).
func (db *DB) SetPolicy(ctx context.Context, a Actor, text, diff string) (p StoredPolicy, ch Change, ok bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		cur, err := db.policyWhere(ctx, tx, `ORDER BY version DESC LIMIT 1`)
		if err != nil {
			return err
		}
		if cur.Text == text {
			p = cur
			return nil
		}
		p = StoredPolicy{Version: cur.Version + 1, Text: text, Author: a.Name, CreatedAt: db.Now()}
		v, err := db.bumpVersion(ctx, tx, PolicyChange+strconv.FormatInt(p.Version, 10))
		if err != nil {
			return err
		}
		p.MapVersion = v
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO policies (version, body, author, created_at, map_version) VALUES (?, ?, ?, ?, ?)`),
			p.Version, p.Text, p.Author, ms(p.CreatedAt), p.MapVersion); err != nil {
			return err
		}
		action := "policy.set"
		if text == "" {
			action = "policy.clear"
		}
		ch, ok = Change{Version: v, MachineID: PolicyChange + strconv.FormatInt(p.Version, 10)}, true
		return db.audit(ctx, tx, a, action, "policy", map[string]any{"version": p.Version, "diff": diff})
	})
	if err != nil {
		return StoredPolicy{}, Change{}, false, fmt.Errorf("store: set policy: %w", err)
	}
	return p, ch, ok, nil
}

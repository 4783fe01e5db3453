package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Replica is a running server replica as the relay mesh knows it: where
// the others reach it directly (not through the load balancer) and the
// pin of its certificate ("" when a CA vouches for it).
type Replica struct {
	ID      string
	URL     string
	Pin     string
	Expires time.Time
}

// RenewReplica records replica r as running until r.Expires (its lease).
func (db *DB) RenewReplica(ctx context.Context, r Replica) error {
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO relay_replicas (id, url, pin, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET url = excluded.url, pin = excluded.pin, expires_at = excluded.expires_at`),
		r.ID, r.URL, r.Pin, ms(r.Expires))
	if err != nil {
		return fmt.Errorf("store: renew replica %s: %w", r.ID, err)
	}
	return nil
}

// LiveReplicas returns the replicas whose lease has not run out.
func (db *DB) LiveReplicas(ctx context.Context) ([]Replica, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id, url, pin, expires_at FROM relay_replicas WHERE expires_at > ? ORDER BY id`), ms(db.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var r Replica
		var exp int64
		if err := rows.Scan(&r.ID, &r.URL, &r.Pin, &exp); err != nil {
			return nil, fmt.Errorf("store: list replicas: %w", err)
		}
		r.Expires = fromMS(exp)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RelaySession is one machine's relay session on a replica.
type RelaySession struct {
	PublicKey string // base64, as the map spells it
	MachineID string
}

// PublishRelaySessions records, in one transaction, the sessions that
// opened on replica and the keys whose session there closed. A key that
// opened elsewhere since is left to the replica that holds it now.
func (db *DB) PublishRelaySessions(ctx context.Context, replica string, opened []RelaySession, closed []string) error {
	if len(opened) == 0 && len(closed) == 0 {
		return nil
	}
	now := ms(db.Now())
	err := db.tx(ctx, func(tx *sql.Tx) error {
		for _, k := range closed {
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM relay_sessions WHERE public_key = ? AND replica = ?`), k, replica); err != nil {
				return err
			}
		}
		for _, s := range opened {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO relay_sessions (public_key, machine_id, replica, since) VALUES (?, ?, ?, ?)
				ON CONFLICT (public_key) DO UPDATE SET machine_id = excluded.machine_id, replica = excluded.replica, since = excluded.since`),
				s.PublicKey, s.MachineID, replica, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: publish relay sessions: %w", err)
	}
	return nil
}

// LocateRelaySession returns the live replica holding the relay session
// of the machine with WireGuard key pub, or ErrNotFound.
func (db *DB) LocateRelaySession(ctx context.Context, pub string) (Replica, error) {
	var r Replica
	var exp int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT r.id, r.url, r.pin, r.expires_at FROM relay_sessions s
		JOIN relay_replicas r ON r.id = s.replica WHERE s.public_key = ? AND r.expires_at > ?`), pub, ms(db.Now())).
		Scan(&r.ID, &r.URL, &r.Pin, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("store: locate relay session: %w", err)
	}
	r.Expires = fromMS(exp)
	return r, nil
}

// LeaveRelay removes replica id and its sessions (a clean shutdown; a
// replica that dies is pruned by the others once its lease is old).
func (db *DB) LeaveRelay(ctx context.Context, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM relay_sessions WHERE replica = ?`), id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`DELETE FROM relay_replicas WHERE id = ?`), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: leave relay: %w", err)
	}
	return nil
}

// PruneRelay removes the replicas whose lease ran out before cutoff, and
// the sessions of replicas that are gone, returning how many sessions
// went.
func (db *DB) PruneRelay(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM relay_replicas WHERE expires_at < ?`), ms(cutoff)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM relay_sessions WHERE replica NOT IN (SELECT id FROM relay_replicas)`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune relay: %w", err)
	}
	return n, nil
}

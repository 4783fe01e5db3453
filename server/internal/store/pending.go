package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Pending-enrollment states.
const (
	PendingWaiting  = "pending"
	PendingApproved = "approved"
	PendingDenied   = "denied"
	PendingEnrolled = "enrolled"
	PendingExpired  = "expired" // shown, never stored: pending past expires_at
)

// Pending is a stored interactive enrollment request.
type Pending struct {
	wire.PendingEnrollment
	Request wire.EnrollRequest // what the agent sent (no token)
}

const pendingCols = `code, request, source_ip, created_at, expires_at, state, decided_by, machine_id`

func (db *DB) scanPending(row interface{ Scan(...any) error }) (Pending, error) {
	var (
		p                  Pending
		req                string
		created, expires   int64
		decidedBy, machine sql.NullString
	)
	if err := row.Scan(&p.Code, &req, &p.SourceIP, &created, &expires, &p.State, &decidedBy, &machine); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(req), &p.Request); err != nil {
		return p, fmt.Errorf("pending enrollment %s: %w", p.Code, err)
	}
	p.CreatedAt, p.ExpiresAt = fromMS(created), fromMS(expires)
	p.DecidedBy, p.MachineID = decidedBy.String, machine.String
	p.Hostname, p.Name, p.OS, p.Arch, p.PublicKey = p.Request.Hostname, p.Request.Name, p.Request.OS, p.Request.Arch, p.Request.PublicKey
	if p.State == PendingWaiting && !db.Now().Before(p.ExpiresAt) {
		p.State = PendingExpired
	}
	return p, nil
}

// CreatePending stores an interactive enrollment request under code, the
// waiting agent's secret by its hash.
func (db *DB) CreatePending(ctx context.Context, code, secretHash, sourceIP string, req wire.EnrollRequest, ttl time.Duration) (Pending, error) {
	req.Token = ""
	b, err := json.Marshal(req)
	if err != nil {
		return Pending{}, err
	}
	now := db.Now()
	err = db.tx(ctx, func(tx *sql.Tx) error {
		// Requests nobody decided on are dropped a day after they expired.
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM pending_enrollments WHERE expires_at < ? AND state <> ?`), ms(now.Add(-24*time.Hour)), PendingEnrolled); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO pending_enrollments (code, secret_hash, request, source_ip, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			code, secretHash, string(b), sourceIP, ms(now), ms(now.Add(ttl)), PendingWaiting)
		return err
	})
	if err != nil {
		return Pending{}, fmt.Errorf("store: save an interactive enrollment: %w", err)
	}
	return db.PendingByCode(ctx, code)
}

// PendingByCode returns a request by its code.
func (db *DB) PendingByCode(ctx context.Context, code string) (Pending, error) {
	p, err := db.scanPending(db.r.QueryRowContext(ctx, db.q(`SELECT `+pendingCols+` FROM pending_enrollments WHERE code = ?`), code))
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// PendingBySecret returns the request the waiting agent's secret hashes to.
func (db *DB) PendingBySecret(ctx context.Context, secretHash string) (Pending, error) {
	p, err := db.scanPending(db.w.QueryRowContext(ctx, db.q(`SELECT `+pendingCols+` FROM pending_enrollments WHERE secret_hash = ?`), secretHash))
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	return p, err
}

// ListPending lists the requests waiting for a decision, newest first.
func (db *DB) ListPending(ctx context.Context) ([]Pending, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+pendingCols+` FROM pending_enrollments WHERE state = ? AND expires_at > ? ORDER BY created_at DESC`), PendingWaiting, ms(db.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: list interactive enrollments: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		p, err := db.scanPending(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// DecidePending approves or denies a waiting request, once, before it
// expires; the decision is audited.
func (db *DB) DecidePending(ctx context.Context, a Actor, code string, approve bool) (Pending, error) {
	state, action := PendingDenied, "enrollment.deny"
	if approve {
		state, action = PendingApproved, "enrollment.approve"
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE pending_enrollments SET state = ?, decided_by = ?, decided_at = ? WHERE code = ? AND state = ? AND expires_at > ?`),
			state, a.Name, ms(db.Now()), code, PendingWaiting, ms(db.Now()))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			p, err := db.scanPending(tx.QueryRowContext(ctx, db.q(`SELECT `+pendingCols+` FROM pending_enrollments WHERE code = ?`), code))
			if errors.Is(err, sql.ErrNoRows) {
				return wire.Errorf(wire.CodeNotFound, "no enrollment request %s", code)
			}
			if err != nil {
				return err
			}
			return wire.Errorf(wire.CodeConflict, "enrollment request %s is %s already", code, p.State)
		}
		return db.audit(ctx, tx, a, action, "enrollment:"+code, nil)
	})
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return Pending{}, we
		}
		return Pending{}, fmt.Errorf("store: decide an interactive enrollment: %w", err)
	}
	return db.PendingByCode(ctx, code)
}

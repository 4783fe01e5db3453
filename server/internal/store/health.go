package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// HealthEntry is a report as received.
type HealthEntry struct {
	MachineID  string
	ReceivedAt time.Time
	Report     wire.HealthReport
}

// SaveHealth stores a batch of reports in one transaction: each becomes the
// machine's latest and joins its history, which is trimmed to keep reports
// per machine. Reports for machines deleted meanwhile are skipped.
func (db *DB) SaveHealth(ctx context.Context, batch []HealthEntry, keep int) error {
	if len(batch) == 0 {
		return nil
	}
	// Rows are locked in machine-ID order, as TouchLastSeen locks them: in
	// any other order two batches over the same machines deadlock on
	// PostgreSQL and one is rolled back. A machine's reports keep their order.
	batch = slices.Clone(batch)
	slices.SortStableFunc(batch, func(a, b HealthEntry) int { return strings.Compare(a.MachineID, b.MachineID) })
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, db.q(`INSERT INTO health_reports (machine_id, received_at, report)
			SELECT CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT) WHERE EXISTS (SELECT 1 FROM machines WHERE id = ?)`))
		if err != nil {
			return err
		}
		defer ins.Close()
		latest, err := tx.PrepareContext(ctx, db.q(`UPDATE machines SET health = ?, health_at = ?, last_seen = ?,
			agent_version = CASE WHEN CAST(? AS TEXT) <> '' THEN CAST(? AS TEXT) ELSE agent_version END,
			update_status = COALESCE(CAST(? AS TEXT), update_status) WHERE id = ?`))
		if err != nil {
			return err
		}
		defer latest.Close()
		trim, err := tx.PrepareContext(ctx, db.q(`DELETE FROM health_reports WHERE machine_id = ? AND id <=
			(SELECT id FROM health_reports WHERE machine_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`))
		if err != nil {
			return err
		}
		defer trim.Close()
		hist, err := tx.PrepareContext(ctx, db.q(`INSERT INTO update_history (machine_id, from_version, to_version, state, reason, at, received_at)
			SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT)
			WHERE EXISTS (SELECT 1 FROM machines WHERE id = ?)
			ON CONFLICT (machine_id, to_version, state, at) DO NOTHING`))
		if err != nil {
			return err
		}
		defer hist.Close()
		trimHist, err := tx.PrepareContext(ctx, db.q(`DELETE FROM update_history WHERE machine_id = ? AND id <=
			(SELECT id FROM update_history WHERE machine_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`))
		if err != nil {
			return err
		}
		defer trimHist.Close()
		var touched, updated []string
		for _, e := range batch {
			rep := e.Report
			if f := rep.Facts; f != nil {
				// The machine's latest facts; the report history, kept for
				// its figures over time, does not repeat them.
				fb, err := json.Marshal(f)
				if err != nil {
					return err
				}
				// Not prepared with the others: facts are rare, and a prepare
				// per batch costs PostgreSQL a round trip.
				if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET facts = ?, facts_at = ? WHERE id = ?`), string(fb), ms(e.ReceivedAt), e.MachineID); err != nil {
					return err
				}
				rep.Facts = nil
			}
			b, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			at := ms(e.ReceivedAt)
			if _, err := ins.ExecContext(ctx, e.MachineID, at, string(b), e.MachineID); err != nil {
				return err
			}
			var upd sql.NullString
			if u := e.Report.Update; u != nil {
				ub, _ := json.Marshal(u)
				upd = sql.NullString{String: string(ub), Valid: true}
				if _, err := hist.ExecContext(ctx, e.MachineID, u.From, u.To, u.State, u.Reason, ms(u.At), at, e.MachineID); err != nil {
					return err
				}
				if len(updated) == 0 || updated[len(updated)-1] != e.MachineID {
					updated = append(updated, e.MachineID)
				}
			}
			v := e.Report.AgentVersion
			if _, err := latest.ExecContext(ctx, string(b), at, at, v, v, upd, e.MachineID); err != nil {
				return err
			}
			if len(touched) == 0 || touched[len(touched)-1] != e.MachineID {
				touched = append(touched, e.MachineID)
			}
		}
		for _, id := range touched {
			if _, err := trim.ExecContext(ctx, id, id, keep); err != nil {
				return err
			}
		}
		for _, id := range updated {
			if _, err := trimHist.ExecContext(ctx, id, id, KeepUpdates); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save health: %w", err)
	}
	return nil
}

// Health returns a machine's latest report and up to limit history entries,
// newest first.
func (db *DB) Health(ctx context.Context, idOrName string, limit int) (wire.MachineHealth, error) {
	m, err := db.Machine(ctx, idOrName)
	if err != nil {
		return wire.MachineHealth{}, err
	}
	out := wire.MachineHealth{MachineID: m.ID, History: []wire.HealthReport{}}
	var latest sql.NullString
	var at sql.NullInt64
	err = db.r.QueryRowContext(ctx, db.q(`SELECT health, health_at FROM machines WHERE id = ?`), m.ID).Scan(&latest, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return out, ErrNotFound
	}
	if err != nil {
		return out, fmt.Errorf("store: read health: %w", err)
	}
	if latest.Valid {
		var r wire.HealthReport
		if json.Unmarshal([]byte(latest.String), &r) == nil {
			out.Latest = &r
			out.ReceivedAt = fromNullMS(at)
		}
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT report FROM health_reports WHERE machine_id = ? ORDER BY id DESC LIMIT ?`), m.ID, limit)
	if err != nil {
		return out, fmt.Errorf("store: read health history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return out, err
		}
		var r wire.HealthReport
		if json.Unmarshal([]byte(s), &r) == nil {
			out.History = append(out.History, r)
		}
	}
	return out, rows.Err()
}

// KeepUpdates is how many update attempts are kept per machine.
const KeepUpdates = 100

// UpdateHistory returns a machine's update attempts, newest first.
func (db *DB) UpdateHistory(ctx context.Context, machineID string, limit int) ([]wire.UpdateStatus, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT from_version, to_version, state, reason, at FROM update_history
		WHERE machine_id = ? ORDER BY at DESC, id DESC LIMIT ?`), machineID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: update history: %w", err)
	}
	defer rows.Close()
	out := []wire.UpdateStatus{}
	for rows.Next() {
		var u wire.UpdateStatus
		var at int64
		if err := rows.Scan(&u.From, &u.To, &u.State, &u.Reason, &at); err != nil {
			return nil, err
		}
		u.At = fromMS(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

// RecentUpdates returns the fleet's latest update attempts, newest first,
// with the machines' names.
func (db *DB) RecentUpdates(ctx context.Context, limit int) ([]wire.UpdateAttempt, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT h.machine_id, m.name, h.from_version, h.to_version, h.state, h.reason, h.at
		FROM update_history h JOIN machines m ON m.id = h.machine_id ORDER BY h.at DESC, h.id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent updates: %w", err)
	}
	defer rows.Close()
	out := []wire.UpdateAttempt{}
	for rows.Next() {
		var u wire.UpdateAttempt
		var at int64
		if err := rows.Scan(&u.MachineID, &u.Machine, &u.From, &u.To, &u.State, &u.Reason, &at); err != nil {
			return nil, err
		}
		u.At = fromMS(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

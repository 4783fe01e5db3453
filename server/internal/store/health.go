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
		touched := map[string]bool{}
		for _, e := range batch {
			b, err := json.Marshal(e.Report)
			if err != nil {
				return err
			}
			at := ms(e.ReceivedAt)
			if _, err := ins.ExecContext(ctx, e.MachineID, at, string(b), e.MachineID); err != nil {
				return err
			}
			var upd sql.NullString
			if e.Report.Update != nil {
				ub, _ := json.Marshal(e.Report.Update)
				upd = sql.NullString{String: string(ub), Valid: true}
			}
			v := e.Report.AgentVersion
			if _, err := latest.ExecContext(ctx, string(b), at, at, v, v, upd, e.MachineID); err != nil {
				return err
			}
			touched[e.MachineID] = true
		}
		for id := range touched {
			if _, err := trim.ExecContext(ctx, id, id, keep); err != nil {
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

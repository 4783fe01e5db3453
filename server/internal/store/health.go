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
//
// Facts and update outcomes are what postures test: a report that changes
// them (beyond free disk space) is a map change of its machine, committed
// first and returned, so that the hub reclassifies the machine.
func (db *DB) SaveHealth(ctx context.Context, batch []HealthEntry, keep int) ([]Change, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	// Rows are locked in machine-ID order, as TouchLastSeen locks them: in
	// any other order two batches over the same machines deadlock on
	// PostgreSQL and one is rolled back. A machine's reports keep their order.
	batch = slices.Clone(batch)
	slices.SortStableFunc(batch, func(a, b HealthEntry) int { return strings.Compare(a.MachineID, b.MachineID) })
	changes, err := db.saveFacts(ctx, batch)
	if err != nil {
		return nil, fmt.Errorf("store: save facts: %w", err)
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
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
			rep.Facts = nil // saved by saveFacts; the history does not repeat them
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
		return changes, fmt.Errorf("store: save health: %w", err)
	}
	return changes, nil
}

// saveFacts stores the facts and update outcomes of batch (sorted by
// machine) in one transaction, bumping the map version of each machine
// whose posture inputs changed: its facts other than free space, or
// whether its last update failed. Every version is taken before any
// machine row is written, in the order every mutation locks (the version,
// then the row): the other way round deadlocks against them on PostgreSQL.
func (db *DB) saveFacts(ctx context.Context, batch []HealthEntry) ([]Change, error) {
	var todo []HealthEntry
	for _, e := range batch {
		if e.Report.Facts != nil || e.Report.Update != nil {
			todo = append(todo, e)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	var changes []Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		changes = changes[:0]
		type write struct {
			e            HealthEntry
			facts        sql.NullString
			serial, uuid sql.NullString
			update       sql.NullString
			version      uint64 // 0: no map change
		}
		writes := make([]write, 0, len(todo))
		// What each machine has now, then, with a later report of the same
		// machine compared with the earlier one.
		last := map[string]struct{ facts, update sql.NullString }{}
		for _, e := range todo {
			cur, seen := last[e.MachineID]
			if !seen {
				err := tx.QueryRowContext(ctx, db.q(`SELECT facts, update_status FROM machines WHERE id = ?`), e.MachineID).Scan(&cur.facts, &cur.update)
				if errors.Is(err, sql.ErrNoRows) {
					continue // deleted meanwhile
				}
				if err != nil {
					return err
				}
			}
			w := write{e: e, facts: cur.facts, update: cur.update}
			changed := false
			if f := e.Report.Facts; f != nil {
				f, err := db.ownIDs(ctx, tx, e.MachineID, f)
				if err != nil {
					return err
				}
				w.serial, w.uuid = nullStr(f.Serial), nullStr(f.MachineUUID)
				fb, err := json.Marshal(f)
				if err != nil {
					return err
				}
				w.facts = sql.NullString{String: string(fb), Valid: true}
				changed = !sameFacts(cur.facts, f)
			}
			if u := e.Report.Update; u != nil {
				ub, err := json.Marshal(u)
				if err != nil {
					return err
				}
				w.update = sql.NullString{String: string(ub), Valid: true}
				changed = changed || updateFailed(cur.update) != (u.State != "ok")
			}
			if changed {
				// The version is taken now, the row written below.
				v, err := db.bumpVersion(ctx, tx, e.MachineID)
				if err != nil {
					return err
				}
				w.version = v
				changes = append(changes, Change{Version: v, MachineID: e.MachineID})
			}
			last[e.MachineID] = struct{ facts, update sql.NullString }{w.facts, w.update}
			writes = append(writes, w)
		}
		for _, w := range writes {
			// Not prepared: facts are rare, and a prepare per batch costs
			// PostgreSQL a round trip.
			withFacts := b2i(w.e.Report.Facts != nil)
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE machines SET facts = ?, facts_at = CASE WHEN CAST(? AS INTEGER) = 1 THEN CAST(? AS BIGINT) ELSE facts_at END,
				hw_serial = CASE WHEN CAST(? AS INTEGER) = 1 THEN CAST(? AS TEXT) ELSE hw_serial END,
				hw_uuid = CASE WHEN CAST(? AS INTEGER) = 1 THEN CAST(? AS TEXT) ELSE hw_uuid END,
				update_status = ?, version = CASE WHEN CAST(? AS BIGINT) > 0 THEN CAST(? AS BIGINT) ELSE version END WHERE id = ?`),
				w.facts, withFacts, ms(w.e.ReceivedAt), withFacts, w.serial, withFacts, w.uuid, w.update, int64(w.version), int64(w.version), w.e.MachineID); err != nil {
				return err
			}
		}
		return nil
	})
	return changes, err
}

// ownIDs returns f without a serial or machine UUID that another machine
// (not revoked) holds: one machine cannot claim another's hardware
// identity, in the inventory or anywhere it is looked up. The claim is
// audited (machine.facts_conflict) and logged. Firmware placeholders
// ("To Be Filled By O.E.M.") identify nobody and are dropped.
func (db *DB) ownIDs(ctx context.Context, tx *sql.Tx, machineID string, f *wire.Facts) (*wire.Facts, error) {
	out := *f
	for _, id := range []struct {
		field, col string
		val        *string
	}{{"serial", "hw_serial", &out.Serial}, {"machine_uuid", "hw_uuid", &out.MachineUUID}} {
		if wire.PlaceholderID(*id.val) {
			*id.val = ""
			continue
		}
		var other, name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, name FROM machines WHERE `+id.col+` = ? AND id <> ? AND state <> ? LIMIT 1`),
			*id.val, machineID, wire.MachineRevoked).Scan(&other, &name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := db.audit(ctx, tx, Actor{Name: "machine:" + machineID}, "machine.facts_conflict", machineID,
			map[string]any{"field": id.field, "holder": other, "holder_name": name}); err != nil {
			return nil, err
		}
		*id.val = ""
	}
	return &out, nil
}

// sameFacts reports whether stored facts equal f but for free disk space
// (which changes all the time and no posture tests).
func sameFacts(stored sql.NullString, f *wire.Facts) bool {
	if !stored.Valid {
		return false
	}
	var old wire.Facts
	if json.Unmarshal([]byte(stored.String), &old) != nil {
		return false
	}
	norm := func(f wire.Facts) []byte {
		f.Disks = slices.Clone(f.Disks)
		for i := range f.Disks {
			f.Disks[i].FreeBytes = 0
		}
		b, _ := json.Marshal(f)
		return b
	}
	return string(norm(old)) == string(norm(*f))
}

// updateFailed reports whether a stored update outcome is a failure.
func updateFailed(stored sql.NullString) bool {
	var u wire.UpdateStatus
	return stored.Valid && json.Unmarshal([]byte(stored.String), &u) == nil && u.State != "ok"
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

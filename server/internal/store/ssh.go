package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// MaxRecordingBytes bounds one session's recording (512 MiB): past it
// the agent is refused, and ends the session it must record.
const MaxRecordingBytes = 512 << 20

// SSHCheckRow is a check: the owner of machine Src asked to confirm a
// login as Login on Dst.
type SSHCheckRow struct {
	ID, Owner, Src, Dst, Login string
	CreatedAt                  time.Time
	ConfirmedAt                *time.Time
}

// CreateSSHCheck stores a new check.
func (db *DB) CreateSSHCheck(ctx context.Context, c SSHCheckRow) error {
	_, err := db.w.ExecContext(ctx, db.q(`INSERT INTO ssh_checks (id, owner, src_machine, dst_machine, login, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
		c.ID, c.Owner, c.Src, c.Dst, c.Login, ms(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: create ssh check: %w", err)
	}
	return nil
}

// SSHCheck returns check id (ErrNotFound).
func (db *DB) SSHCheck(ctx context.Context, id string) (SSHCheckRow, error) {
	var c SSHCheckRow
	var created int64
	var confirmed sql.NullInt64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT id, owner, src_machine, dst_machine, login, created_at, confirmed_at FROM ssh_checks WHERE id = ?`), id).
		Scan(&c.ID, &c.Owner, &c.Src, &c.Dst, &c.Login, &created, &confirmed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: ssh check: %w", err)
	}
	c.CreatedAt, c.ConfirmedAt = fromMS(created), fromNullMS(confirmed)
	return c, nil
}

// ConfirmSSHCheck records the owner's confirmation of check id, with an
// audit event; confirming again changes nothing.
func (db *DB) ConfirmSSHCheck(ctx context.Context, a Actor, id string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE ssh_checks SET confirmed_at = ? WHERE id = ? AND confirmed_at IS NULL`), ms(at), id)
		if err != nil {
			return fmt.Errorf("store: confirm ssh check: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return db.audit(ctx, tx, a, "ssh.check.confirm", id, nil)
	})
}

// LastSSHConfirmation returns when owner last confirmed a check (zero:
// never).
func (db *DB) LastSSHConfirmation(ctx context.Context, owner string) (time.Time, error) {
	var last sql.NullInt64
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT MAX(confirmed_at) FROM ssh_checks WHERE owner = ?`), owner).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("store: last ssh confirmation: %w", err)
	}
	if !last.Valid {
		return time.Time{}, nil
	}
	return fromMS(last.Int64), nil
}

// StartSSHSession stores a session's start and its audit event (a
// repeated report of the same session changes nothing).
func (db *DB) StartSSHSession(ctx context.Context, a Actor, s wire.SSHSession, rule int) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM ssh_sessions WHERE id = ?`), s.ID).Scan(&n); err != nil {
			return fmt.Errorf("store: ssh session: %w", err)
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO ssh_sessions (id, machine, machine_name, src, src_name, owner, console, login, kind, command,
			start_at, reason, recorded, recording_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0)`),
			s.ID, s.Machine, s.MachineName, s.Src, s.SrcName, s.Owner, s.Console, s.User, s.Kind, s.Command, ms(s.Start), b2i(s.Recorded)); err != nil {
			return fmt.Errorf("store: start ssh session: %w", err)
		}
		return db.audit(ctx, tx, a, "ssh.session.start", s.MachineName, map[string]any{"session": s.ID, "src": s.SrcName, "owner": s.Owner,
			"console": s.Console, "user": s.User, "kind": s.Kind, "command": s.Command, "rule": rule + 1, "recorded": s.Recorded})
	})
}

// EndSSHSession records how machine's session id ended, with an audit
// event (a repeated report changes nothing).
func (db *DB) EndSSHSession(ctx context.Context, a Actor, machine, id string, end time.Time, exit int, reason string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var name, login string
		var ended sql.NullInt64
		err := tx.QueryRowContext(ctx, db.q(`SELECT machine_name, login, end_at FROM ssh_sessions WHERE id = ? AND machine = ?`), id, machine).Scan(&name, &login, &ended)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: ssh session: %w", err)
		}
		if ended.Valid {
			return nil
		}
		var status sql.NullInt64
		if exit >= 0 {
			status = sql.NullInt64{Int64: int64(exit), Valid: true}
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE ssh_sessions SET end_at = ?, exit_status = ?, reason = ? WHERE id = ?`), ms(end), status, reason, id); err != nil {
			return fmt.Errorf("store: end ssh session: %w", err)
		}
		d := map[string]any{"session": id, "user": login, "reason": reason}
		if status.Valid {
			d["exit_status"] = exit
		}
		return db.audit(ctx, tx, a, "ssh.session.end", name, d)
	})
}

// AppendSSHRecording appends data at offset to machine's recording of
// session id. An append the server holds already (a retry) is ignored;
// one that would leave a gap or overlap differently is a conflict.
func (db *DB) AppendSSHRecording(ctx context.Context, machine, id string, offset int64, data []byte) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var have int64
		var recorded int
		err := tx.QueryRowContext(ctx, db.q(`SELECT recording_bytes, recorded FROM ssh_sessions WHERE id = ? AND machine = ?`), id, machine).Scan(&have, &recorded)
		if errors.Is(err, sql.ErrNoRows) {
			return wire.Errorf(wire.CodeNotFound, "no session %s of this machine (report its start first)", id)
		}
		if err != nil {
			return fmt.Errorf("store: ssh recording: %w", err)
		}
		switch {
		case recorded == 0:
			return wire.Errorf(wire.CodeConflict, "session %s is not recorded", id)
		case offset+int64(len(data)) <= have:
			return nil // held already
		case offset != have:
			return wire.Errorf(wire.CodeConflict, "recording of %s: append at %d, the server holds %d bytes", id, offset, have)
		case have+int64(len(data)) > MaxRecordingBytes:
			return wire.Errorf(wire.CodeInvalidArgument, "recording of %s: more than %d bytes", id, MaxRecordingBytes)
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO ssh_recordings (session, offset_bytes, data) VALUES (?, ?, ?)`), id, offset, data); err != nil {
			return fmt.Errorf("store: append ssh recording: %w", err)
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE ssh_sessions SET recording_bytes = ? WHERE id = ?`), have+int64(len(data)), id); err != nil {
			return fmt.Errorf("store: append ssh recording: %w", err)
		}
		return nil
	})
}

const sshSessionCols = `id, machine, machine_name, src, src_name, owner, console, login, kind, command, start_at, end_at, exit_status, reason, recorded, recording_bytes`

func scanSSHSession(sc interface{ Scan(...any) error }) (wire.SSHSession, error) {
	var s wire.SSHSession
	var start int64
	var end, status sql.NullInt64
	var recorded int
	err := sc.Scan(&s.ID, &s.Machine, &s.MachineName, &s.Src, &s.SrcName, &s.Owner, &s.Console, &s.User, &s.Kind, &s.Command,
		&start, &end, &status, &s.Reason, &recorded, &s.RecordingBytes)
	if err != nil {
		return s, err
	}
	s.Start, s.End, s.Recorded = fromMS(start), fromNullMS(end), recorded != 0
	if status.Valid {
		n := int(status.Int64)
		s.ExitStatus = &n
	}
	return s, nil
}

// SSHSessions returns up to limit sessions, newest first (machine "":
// all; else those to that machine ID).
func (db *DB) SSHSessions(ctx context.Context, machine string, limit int) ([]wire.SSHSession, error) {
	q, args := `SELECT `+sshSessionCols+` FROM ssh_sessions`, []any{}
	if machine != "" {
		q += ` WHERE machine = ?`
		args = append(args, machine)
	}
	q += ` ORDER BY start_at DESC, id LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, db.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("store: ssh sessions: %w", err)
	}
	defer rows.Close()
	out := []wire.SSHSession{}
	for rows.Next() {
		s, err := scanSSHSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: ssh sessions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SSHSession returns session id (ErrNotFound).
func (db *DB) SSHSession(ctx context.Context, id string) (wire.SSHSession, error) {
	s, err := scanSSHSession(db.r.QueryRowContext(ctx, db.q(`SELECT `+sshSessionCols+` FROM ssh_sessions WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("store: ssh session: %w", err)
	}
	return s, nil
}

// WriteSSHRecording writes session id's cast to w, chunk by chunk.
func (db *DB) WriteSSHRecording(ctx context.Context, id string, w io.Writer) error {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT data FROM ssh_recordings WHERE session = ? ORDER BY offset_bytes`), id)
	if err != nil {
		return fmt.Errorf("store: ssh recording: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return fmt.Errorf("store: ssh recording: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PruneSSH deletes sessions (and their recordings) that started before
// `before`, and checks made before it.
func (db *DB) PruneSSH(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM ssh_recordings WHERE session IN (SELECT id FROM ssh_sessions WHERE start_at < ?)`), ms(before)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM ssh_sessions WHERE start_at < ?`), ms(before))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM ssh_checks WHERE created_at < ?`), ms(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: prune ssh sessions: %w", err)
	}
	return n, nil
}

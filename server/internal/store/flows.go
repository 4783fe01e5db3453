package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// InsertFlows stores a report's flow records (validated by the caller) in
// one transaction, as reporter's.
func (db *DB) InsertFlows(ctx context.Context, reporter string, recs []wire.FlowRecord) error {
	if len(recs) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.q(`INSERT INTO flow_records (reporter, start_at, end_at, proto, src, dst, src_port, dst_port,
			src_machine, dst_machine, tx_packets, tx_bytes, rx_packets, rx_bytes, path, verdict, rule)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, r := range recs {
			if _, err := stmt.ExecContext(ctx, reporter, ms(r.Start), ms(r.End), r.Proto, r.Src, r.Dst, int(r.SrcPort), int(r.DstPort),
				r.SrcMachine, r.DstMachine, int64(r.TxPackets), int64(r.TxBytes), int64(r.RxPackets), int64(r.RxBytes), r.Path, r.Verdict, r.Rule); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: insert flow records: %w", err)
	}
	return nil
}

// FlowQuery selects flow records; zero fields select everything.
type FlowQuery struct {
	Machine      string // a machine ID at either end
	Addr         string // an overlay address at either end
	Port         uint16 // destination port
	Verdict      string
	Since, Until time.Time
	Before       int64 // cursor: records with a smaller ID
	Limit        int
}

// Flows returns records matching q, newest first, and the cursor of the
// next page (0: none).
func (db *DB) Flows(ctx context.Context, q FlowQuery) ([]wire.FlowRecord, int64, error) {
	where, args := q.where()
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	sqlText := `SELECT id, reporter, start_at, end_at, proto, src, dst, src_port, dst_port, src_machine, dst_machine,
		tx_packets, tx_bytes, rx_packets, rx_bytes, path, verdict, rule FROM flow_records`
	if len(where) > 0 {
		sqlText += " WHERE " + strings.Join(where, " AND ")
	}
	sqlText += " ORDER BY id DESC LIMIT " + strconv.Itoa(q.Limit+1)
	return db.flowRows(ctx, sqlText, args, q.Limit)
}

// where is q's conditions as SQL.
func (q FlowQuery) where() (where []string, args []any) {
	if q.Machine != "" {
		where = append(where, "(src_machine = ? OR dst_machine = ?)")
		args = append(args, q.Machine, q.Machine)
	}
	if q.Addr != "" {
		where = append(where, "(src = ? OR dst = ?)")
		args = append(args, q.Addr, q.Addr)
	}
	if q.Port > 0 {
		where = append(where, "dst_port = ?")
		args = append(args, int(q.Port))
	}
	if q.Verdict != "" {
		where = append(where, "verdict = ?")
		args = append(args, q.Verdict)
	}
	if !q.Since.IsZero() {
		where = append(where, "end_at >= ?")
		args = append(args, ms(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, "start_at < ?")
		args = append(args, ms(q.Until))
	}
	if q.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, q.Before)
	}
	return where, args
}

func (db *DB) flowRows(ctx context.Context, sqlText string, args []any, limit int) ([]wire.FlowRecord, int64, error) {
	rows, err := db.r.QueryContext(ctx, db.q(sqlText), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: query flow records: %w", err)
	}
	defer rows.Close()
	out := []wire.FlowRecord{}
	for rows.Next() {
		var r wire.FlowRecord
		var start, end int64
		var sport, dport int
		var txp, txb, rxp, rxb int64
		if err := rows.Scan(&r.ID, &r.Reporter, &start, &end, &r.Proto, &r.Src, &r.Dst, &sport, &dport, &r.SrcMachine, &r.DstMachine,
			&txp, &txb, &rxp, &rxb, &r.Path, &r.Verdict, &r.Rule); err != nil {
			return nil, 0, fmt.Errorf("store: read flow record: %w", err)
		}
		r.Start, r.End = fromMS(start), fromMS(end)
		r.SrcPort, r.DstPort = uint16(sport), uint16(dport)
		r.TxPackets, r.TxBytes, r.RxPackets, r.RxBytes = uint64(txp), uint64(txb), uint64(rxp), uint64(rxb)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var next int64
	if len(out) > limit {
		out = out[:limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// Talker is a pair of machines (or addresses) and what passed between
// them in a time range, as reported by either end.
type Talker struct {
	Src, Dst              string // machine IDs, or addresses where no machine holds them
	Bytes, Packets, Flows int64
}

// TopTalkers returns the n pairs that moved the most bytes among the
// allowed flows matching q (its cursor and limit aside).
func (db *DB) TopTalkers(ctx context.Context, q FlowQuery, n int) ([]Talker, error) {
	q.Before, q.Verdict = 0, wire.FlowAllowed
	where, args := q.where()
	sqlText := `SELECT CASE WHEN src_machine <> '' THEN src_machine ELSE src END, CASE WHEN dst_machine <> '' THEN dst_machine ELSE dst END,
		CAST(SUM(tx_bytes + rx_bytes) AS BIGINT), CAST(SUM(tx_packets + rx_packets) AS BIGINT), COUNT(*) FROM flow_records WHERE ` + strings.Join(where, " AND ") +
		` GROUP BY 1, 2 ORDER BY 3 DESC LIMIT ` + strconv.Itoa(n)
	rows, err := db.r.QueryContext(ctx, db.q(sqlText), args...)
	if err != nil {
		return nil, fmt.Errorf("store: top talkers: %w", err)
	}
	defer rows.Close()
	var out []Talker
	for rows.Next() {
		var t Talker
		if err := rows.Scan(&t.Src, &t.Dst, &t.Bytes, &t.Packets, &t.Flows); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// PruneFlows deletes records that ended before `before`, and then the
// oldest beyond keep records (0: no bound), in chunks so that a large
// prune never holds the writer for long. It returns how many went.
func (db *DB) PruneFlows(ctx context.Context, before time.Time, keep int64) (int64, error) {
	var total int64
	del := func(query string, args ...any) (int64, error) {
		res, err := db.w.ExecContext(ctx, db.q(query), args...)
		if err != nil {
			return 0, fmt.Errorf("store: prune flow records: %w", err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	for {
		n, err := del(`DELETE FROM flow_records WHERE id IN (SELECT id FROM flow_records WHERE end_at < ? ORDER BY id LIMIT 10000)`, ms(before))
		if err != nil {
			return total, err
		}
		total += n
		if n < 10000 {
			break
		}
	}
	if keep > 0 {
		for {
			var maxID, count int64
			if err := db.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0), COUNT(*) FROM flow_records`).Scan(&maxID, &count); err != nil {
				return total, fmt.Errorf("store: count flow records: %w", err)
			}
			over := count - keep
			if over <= 0 {
				break
			}
			n, err := del(`DELETE FROM flow_records WHERE id IN (SELECT id FROM flow_records ORDER BY id LIMIT ?)`, min(over, 10000))
			if err != nil {
				return total, err
			}
			total += n
			if n == 0 {
				break
			}
		}
	}
	return total, nil
}

// FlowCount returns how many flow records are kept (for doctor).
func (db *DB) FlowCount(ctx context.Context) (int64, error) {
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM flow_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count flow records: %w", err)
	}
	return n, nil
}

// MachineIDsByAddr maps overlay addresses to the machines that hold them
// (the server's own answer; what an agent claims of a peer is not
// trusted). Addresses no machine holds are absent.
func (db *DB) MachineIDsByAddr(ctx context.Context, addrs []string) (map[string]string, error) {
	out := map[string]string{}
	for len(addrs) > 0 {
		chunk := addrs[:min(len(addrs), 400)]
		addrs = addrs[len(chunk):]
		marks := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, 0, 2*len(chunk))
		for _, a := range chunk {
			args = append(args, a)
		}
		args = append(args, args...)
		rows, err := db.r.QueryContext(ctx, db.q(`SELECT id, ipv4, ipv6, state FROM machines WHERE ipv4 IN (`+marks+`) OR ipv6 IN (`+marks+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("store: machines by address: %w", err)
		}
		for rows.Next() {
			var id, v4, v6, state string
			if err := rows.Scan(&id, &v4, &v6, &state); err != nil {
				rows.Close()
				return nil, err
			}
			for _, a := range []string{v4, v6} {
				if _, taken := out[a]; !taken || state == wire.MachineActive {
					out[a] = id
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

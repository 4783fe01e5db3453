package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// DNSChange is the netmap_log.machine_id of a change of the fleet's DNS
// records (the whole set is sent again).
const DNSChange = "dns:"

// IsDNSChange reports whether a change is one of the DNS records.
func IsDNSChange(c Change) bool { return strings.HasPrefix(c.MachineID, DNSChange) }

// SelfChange is the netmap_log.machine_id of a change of what every
// agent's Self carries from the server itself (its TLS pins): like a DNS
// change, every reader gets its Self again.
const SelfChange = "self:"

// IsSelfChange reports whether a change is one of the server's own settings.
func IsSelfChange(c Change) bool { return strings.HasPrefix(c.MachineID, SelfChange) }

// LogSelfChange records that the server's settings named what changed, so
// that every agent's next map carries its Self; the audit event action
// with details goes with it.
func (db *DB) LogSelfChange(ctx context.Context, a Actor, what, action string, details map[string]any) (Change, error) {
	var ch Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		v, err := db.bumpVersion(ctx, tx, SelfChange+what)
		if err != nil {
			return err
		}
		ch = Change{Version: v, MachineID: SelfChange + what}
		return db.audit(ctx, tx, a, action, SelfChange+what, details)
	})
	if err != nil {
		return Change{}, fmt.Errorf("store: log a settings change: %w", err)
	}
	return ch, nil
}

// MaxDNSRecords caps the records of a fleet: every agent gets all of them.
const MaxDNSRecords = 1000

// DNSRecords lists the fleet's DNS records, by name.
func (db *DB) DNSRecords(ctx context.Context) ([]wire.DNSRecord, error) {
	return db.dnsRecords(ctx, db.r)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (db *DB) dnsRecords(ctx context.Context, q queryer) ([]wire.DNSRecord, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, type, value, created_by, created_at FROM dns_records ORDER BY name, type, value`)
	if err != nil {
		return nil, fmt.Errorf("store: list DNS records: %w", err)
	}
	defer rows.Close()
	out := []wire.DNSRecord{}
	for rows.Next() {
		var r wire.DNSRecord
		var at int64
		if err := rows.Scan(&r.Name, &r.Type, &r.Value, &r.CreatedBy, &at); err != nil {
			return nil, fmt.Errorf("store: list DNS records: %w", err)
		}
		t := fromMS(at)
		r.CreatedAt = &t
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddDNSRecord adds a record (checked by the caller) and logs the change.
func (db *DB) AddDNSRecord(ctx context.Context, a Actor, r wire.DNSRecord) (Change, error) {
	var ch Change
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM dns_records`).Scan(&n); err != nil {
			return err
		}
		if n >= MaxDNSRecords {
			return wire.Errorf(wire.CodeInvalidArgument, "the fleet has %d DNS records already, the most it may have", n)
		}
		var exists int
		err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM dns_records WHERE name = ? AND type = ? AND value = ?`), r.Name, r.Type, r.Value).Scan(&exists)
		if err != nil {
			return err
		}
		if exists > 0 {
			return wire.Errorf(wire.CodeConflict, "%s %s %s exists already", r.Name, r.Type, r.Value)
		}
		// A name with a CNAME has no other record, and one CNAME only
		// (RFC 1034 §3.6.2).
		var clash int
		q := `SELECT COUNT(*) FROM dns_records WHERE name = ? AND type = 'CNAME'`
		if r.Type == "CNAME" {
			q = `SELECT COUNT(*) FROM dns_records WHERE name = ?`
		}
		if err := tx.QueryRowContext(ctx, db.q(q), r.Name).Scan(&clash); err != nil {
			return err
		}
		if clash > 0 {
			return wire.Errorf(wire.CodeConflict, "%s: a name with a CNAME can have no other record", r.Name)
		}
		v, err := db.bumpVersion(ctx, tx, DNSChange+r.Name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO dns_records (name, type, value, created_by, created_at) VALUES (?, ?, ?, ?, ?)`),
			r.Name, r.Type, r.Value, a.Name, ms(db.Now())); err != nil {
			return err
		}
		ch = Change{Version: v, MachineID: DNSChange + r.Name}
		return db.audit(ctx, tx, a, "dns.add", "dns:"+r.Name, map[string]any{"name": r.Name, "type": r.Type, "value": r.Value})
	})
	if err != nil {
		return Change{}, fmt.Errorf("store: add DNS record: %w", err)
	}
	return ch, nil
}

// RemoveDNSRecords removes the records of name (of type rtype only, when
// given) and logs the change; ErrNotFound when there was none.
// RemoveDNSRecords removes name's records, of rtype and with value when
// they are not "".
func (db *DB) RemoveDNSRecords(ctx context.Context, a Actor, name, rtype, value string) (removed []wire.DNSRecord, ch Change, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		all, err := db.dnsRecords(ctx, tx)
		if err != nil {
			return err
		}
		for _, r := range all {
			if r.Name == name && (rtype == "" || r.Type == rtype) && (value == "" || r.Value == value) {
				removed = append(removed, r)
			}
		}
		if len(removed) == 0 {
			return ErrNotFound
		}
		q, args := `DELETE FROM dns_records WHERE name = ?`, []any{name}
		if rtype != "" {
			q, args = q+` AND type = ?`, append(args, rtype)
		}
		if value != "" {
			q, args = q+` AND value = ?`, append(args, value)
		}
		if _, err := tx.ExecContext(ctx, db.q(q), args...); err != nil {
			return err
		}
		v, err := db.bumpVersion(ctx, tx, DNSChange+name)
		if err != nil {
			return err
		}
		ch = Change{Version: v, MachineID: DNSChange + name}
		return db.audit(ctx, tx, a, "dns.remove", "dns:"+name, map[string]any{"name": name, "type": rtype, "value": value, "removed": len(removed)})
	})
	if err != nil {
		return nil, Change{}, fmt.Errorf("store: remove DNS records: %w", err)
	}
	return removed, ch, nil
}

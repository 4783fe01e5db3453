package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

const clientCols = `id, name, description, kind, team, active, rate_per_min, allow, created_by, created_at, last_seen`

func scanClient(row interface{ Scan(...any) error }) (wire.FlagClient, error) {
	var (
		c       wire.FlagClient
		active  int
		allow   string
		created int64
		seen    sql.NullInt64
	)
	if err := row.Scan(&c.ID, &c.Name, &c.Description, &c.Kind, &c.Team, &active, &c.RatePerMinute, &allow, &c.CreatedBy, &created, &seen); err != nil {
		return c, err
	}
	c.Active, c.CreatedAt, c.LastSeen = active != 0, fromMS(created), fromNullMS(seen)
	if a := parseList(allow); len(a) > 0 {
		c.Allow = a
	}
	c.Keys = []wire.FlagClientKey{}
	return c, nil
}

// CreateFlagClient stores a client (validated by the caller) with its
// first key's hash.
func (db *DB) CreateFlagClient(ctx context.Context, a Actor, c wire.FlagClient, prefix, hash string) (wire.FlagClient, wire.FlagClientKey, error) {
	c.ID = newID("fc_")
	var k wire.FlagClientKey
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if c.Team != "" {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM teams WHERE name = ?`), c.Team).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return wire.Errorf(wire.CodeInvalidArgument, "no team is named %q (see `wirefleet-server teams list`)", c.Team)
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO flag_clients (`+clientCols+`) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, NULL)`),
			c.ID, c.Name, c.Description, c.Kind, c.Team, c.RatePerMinute, jsonList(c.Allow), a.Name, ms(db.Now()))
		if isUnique(err, "name") {
			return wire.Errorf(wire.CodeConflict, "a flag client named %q exists already", c.Name)
		}
		if err != nil {
			return err
		}
		if k, err = db.insertClientKey(ctx, tx, c.ID, prefix, hash); err != nil {
			return err
		}
		return db.audit(ctx, tx, a, "flag_client.create", c.ID, map[string]any{"name": c.Name, "team": c.Team, "kind": c.Kind, "key": prefix})
	})
	if err != nil {
		return c, k, wrapErr("create a flag client", err)
	}
	c, err = db.FlagClient(ctx, c.Name)
	return c, k, err
}

func (db *DB) insertClientKey(ctx context.Context, tx *sql.Tx, clientID, prefix, hash string) (wire.FlagClientKey, error) {
	k := wire.FlagClientKey{ID: newID("fck_"), Prefix: prefix, CreatedAt: fromMS(ms(db.Now()))}
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO flag_client_keys (id, client_id, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)`), k.ID, clientID, prefix, hash, ms(k.CreatedAt))
	return k, err
}

// FlagClient returns a client, with its keys, by name or ID.
func (db *DB) FlagClient(ctx context.Context, nameOrID string) (wire.FlagClient, error) {
	cs, err := db.flagClients(ctx, `WHERE name = ? OR id = ?`, nameOrID, nameOrID)
	if err != nil {
		return wire.FlagClient{}, err
	}
	if len(cs) == 0 {
		return wire.FlagClient{}, ErrNotFound
	}
	return cs[0], nil
}

// FlagClients returns every client, by name.
func (db *DB) FlagClients(ctx context.Context) ([]wire.FlagClient, error) {
	return db.flagClients(ctx, "")
}

func (db *DB) flagClients(ctx context.Context, where string, args ...any) ([]wire.FlagClient, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+clientCols+` FROM flag_clients `+where+` ORDER BY name`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list flag clients: %w", err)
	}
	out := []wire.FlagClient{}
	idx := map[string]int{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: list flag clients: %w", err)
		}
		idx[c.ID] = len(out)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list flag clients: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	krows, err := db.r.QueryContext(ctx, `SELECT id, client_id, prefix, created_at, revoked_at FROM flag_client_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list flag client keys: %w", err)
	}
	defer krows.Close()
	for krows.Next() {
		var k wire.FlagClientKey
		var cid string
		var c int64
		var rev sql.NullInt64
		if err := krows.Scan(&k.ID, &cid, &k.Prefix, &c, &rev); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RevokedAt = fromMS(c), fromNullMS(rev)
		if i, ok := idx[cid]; ok {
			out[i].Keys = append(out[i].Keys, k)
		}
	}
	return out, krows.Err()
}

// FlagClientChange is what changes of a client; nil fields stay.
type FlagClientChange struct {
	Active        *bool
	Description   *string
	RatePerMinute *int
	Allow         *[]string
	// NewKey adds a key (its prefix and hash): rotation. RevokeKey
	// revokes one by ID or prefix.
	NewKey    *[2]string
	RevokeKey string
}

// ChangeFlagClient changes a client in one transaction, audited; it
// returns the client and the new key, if one was added.
func (db *DB) ChangeFlagClient(ctx context.Context, a Actor, nameOrID string, c FlagClientChange) (wire.FlagClient, wire.FlagClientKey, error) {
	var k wire.FlagClientKey
	var name string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, name FROM flag_clients WHERE name = ? OR id = ?`), nameOrID, nameOrID).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		details := map[string]any{"name": name}
		action := "flag_client.update"
		set := func(col string, v any) error {
			_, err := tx.ExecContext(ctx, db.q(`UPDATE flag_clients SET `+col+` = ? WHERE id = ?`), v, id)
			return err
		}
		if c.Active != nil {
			if err := set("active", b2i(*c.Active)); err != nil {
				return err
			}
			details["active"] = *c.Active
			action = map[bool]string{true: "flag_client.enable", false: "flag_client.disable"}[*c.Active]
		}
		if c.Description != nil {
			if err := set("description", *c.Description); err != nil {
				return err
			}
		}
		if c.RatePerMinute != nil {
			if err := set("rate_per_min", *c.RatePerMinute); err != nil {
				return err
			}
			details["rate_per_minute"] = *c.RatePerMinute
		}
		if c.Allow != nil {
			if err := set("allow", jsonList(*c.Allow)); err != nil {
				return err
			}
			details["allow"] = *c.Allow
		}
		if c.NewKey != nil {
			if k, err = db.insertClientKey(ctx, tx, id, c.NewKey[0], c.NewKey[1]); err != nil {
				return err
			}
			action, details["key"] = "flag_client.rotate", c.NewKey[0]
		}
		if c.RevokeKey != "" {
			res, err := tx.ExecContext(ctx, db.q(`UPDATE flag_client_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE client_id = ? AND (id = ? OR prefix = ?)`), ms(db.Now()), id, c.RevokeKey, c.RevokeKey)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return wire.Errorf(wire.CodeNotFound, "client %s has no key %q", name, c.RevokeKey)
			}
			action, details["revoked_key"] = "flag_client.revoke_key", c.RevokeKey
		}
		return db.audit(ctx, tx, a, action, id, details)
	})
	if err != nil {
		return wire.FlagClient{}, k, wrapErr("change a flag client", err)
	}
	cl, err := db.FlagClient(ctx, name)
	return cl, k, err
}

// DeleteFlagClient removes a client and its keys.
func (db *DB) DeleteFlagClient(ctx context.Context, a Actor, nameOrID string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var id, name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, name FROM flag_clients WHERE name = ? OR id = ?`), nameOrID, nameOrID).Scan(&id, &name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM flag_client_keys WHERE client_id = ?`, `DELETE FROM flag_clients WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		return db.audit(ctx, tx, a, "flag_client.delete", id, map[string]any{"name": name})
	})
	return wrapErr("delete a flag client", err)
}

// FlagClientByKey returns the client a live key (by hash) belongs to;
// ErrNotFound for an unknown or revoked key. The client may be inactive:
// the caller says so.
func (db *DB) FlagClientByKey(ctx context.Context, hash string) (wire.FlagClient, error) {
	var cid string
	var rev sql.NullInt64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT client_id, revoked_at FROM flag_client_keys WHERE hash = ?`), hash).Scan(&cid, &rev)
	if errors.Is(err, sql.ErrNoRows) || err == nil && rev.Valid {
		return wire.FlagClient{}, ErrNotFound
	}
	if err != nil {
		return wire.FlagClient{}, fmt.Errorf("store: look up a flag client key: %w", err)
	}
	c, err := scanClient(db.r.QueryRowContext(ctx, db.q(`SELECT `+clientCols+` FROM flag_clients WHERE id = ?`), cid))
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}

// UsageCount is evaluations of a flag by a subject (client:ID or
// machine:ID) in an hour.
type UsageCount struct {
	Flag, Subject string
	Hour          time.Time // truncated to the hour
	Count         int64
	Last          time.Time
}

// AddUsage adds counts to the hourly usage, and notes the clients' last
// use, in one transaction.
func (db *DB) AddUsage(ctx context.Context, us []UsageCount) error {
	if len(us) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seen := map[string]int64{}
		for _, u := range us {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO flag_usage (flag, subject, hour, count, last_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (flag, subject, hour) DO UPDATE SET count = flag_usage.count + excluded.count, last_at = CASE WHEN excluded.last_at > flag_usage.last_at THEN excluded.last_at ELSE flag_usage.last_at END`),
				u.Flag, u.Subject, ms(u.Hour), u.Count, ms(u.Last)); err != nil {
				return err
			}
			if len(u.Subject) > 7 && u.Subject[:7] == "client:" && ms(u.Last) > seen[u.Subject[7:]] {
				seen[u.Subject[7:]] = ms(u.Last)
			}
		}
		for id, at := range seen {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE flag_clients SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)`), at, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add flag usage: %w", err)
	}
	return nil
}

// FlagUsage returns who evaluated a flag in the last week, with names for
// clients and machines, busiest first.
func (db *DB) FlagUsage(ctx context.Context, flag string, now time.Time) (wire.FlagUsage, error) {
	out := wire.FlagUsage{Flag: flag, Subjects: []wire.FlagUsageSource{}}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT u.subject, u.hour, u.count, u.last_at, COALESCE(c.name, m.name, '')
		FROM flag_usage u
		LEFT JOIN flag_clients c ON u.subject = 'client:' || c.id
		LEFT JOIN machines m ON u.subject = 'machine:' || m.id
		WHERE u.flag = ? AND u.hour >= ?`), flag, ms(now.Add(-7*24*time.Hour).Truncate(time.Hour)))
	if err != nil {
		return out, fmt.Errorf("store: read flag usage: %w", err)
	}
	defer rows.Close()
	by := map[string]*wire.FlagUsageSource{}
	dayFrom := ms(now.Add(-24 * time.Hour).Truncate(time.Hour))
	for rows.Next() {
		var subject, name string
		var hour, count, last int64
		if err := rows.Scan(&subject, &hour, &count, &last, &name); err != nil {
			return out, err
		}
		label := subject
		if i := strings.IndexByte(subject, ':'); name != "" && i > 0 {
			label = subject[:i+1] + name // client:NAME, machine:NAME
		}
		s := by[label]
		if s == nil {
			s = &wire.FlagUsageSource{Subject: label}
			by[label] = s
		}
		s.Week += count
		if hour >= dayFrom {
			s.Day += count
		}
		if t := fromMS(last); t.After(s.LastSeen) {
			s.LastSeen = t
		}
	}
	for _, s := range by {
		out.Subjects = append(out.Subjects, *s)
	}
	sort.Slice(out.Subjects, func(i, j int) bool {
		a, b := out.Subjects[i], out.Subjects[j]
		if a.Week != b.Week {
			return a.Week > b.Week
		}
		return a.Subject < b.Subject
	})
	return out, rows.Err()
}

// PruneUsage deletes usage older than before.
func (db *DB) PruneUsage(ctx context.Context, before time.Time) error {
	_, err := db.w.ExecContext(ctx, db.q(`DELETE FROM flag_usage WHERE hour < ?`), ms(before))
	if err != nil {
		return fmt.Errorf("store: prune flag usage: %w", err)
	}
	return nil
}

// UsageSummary is a flag's use at a glance.
type UsageSummary struct {
	Day, Week int64
	Subjects  int // distinct clients and machines in the week
}

// FlagUsageSummary returns every flag's use over the last week (flags
// nobody evaluated are absent).
func (db *DB) FlagUsageSummary(ctx context.Context, now time.Time) (map[string]UsageSummary, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT flag, subject, hour, count FROM flag_usage WHERE hour >= ?`), ms(now.Add(-7*24*time.Hour).Truncate(time.Hour)))
	if err != nil {
		return nil, fmt.Errorf("store: read flag usage: %w", err)
	}
	defer rows.Close()
	out := map[string]UsageSummary{}
	subjects := map[[2]string]bool{}
	dayFrom := ms(now.Add(-24 * time.Hour).Truncate(time.Hour))
	for rows.Next() {
		var flag, subject string
		var hour, count int64
		if err := rows.Scan(&flag, &subject, &hour, &count); err != nil {
			return nil, err
		}
		u := out[flag]
		u.Week += count
		if hour >= dayFrom {
			u.Day += count
		}
		if !subjects[[2]string{flag, subject}] {
			subjects[[2]string{flag, subject}] = true
			u.Subjects++
		}
		out[flag] = u
	}
	return out, rows.Err()
}

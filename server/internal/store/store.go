// Package store keeps Wirefleet's state in SQL: SQLite (embedded, the
// default) or PostgreSQL (for several replicas). Handlers never see SQL; they
// call the methods here, each of which is one transaction that also writes
// its audit event and, when the network map changes, bumps the map version.
//
// Queries are written once with '?' placeholders and portable SQL (BIGINT
// unix-millisecond times, 0/1 integers, JSON text lists, RETURNING) and are
// rebound for the dialect in use.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

//go:embed migrations
var migrations embed.FS

// ErrNotFound is returned when a row does not exist. It is a *wire.Error so
// the API maps it to 404 without translation.
var ErrNotFound = &wire.Error{Code: wire.CodeNotFound, Message: "not found"}

// Actor says who performs a change and from where; it goes into the audit
// event written in the same transaction as the change.
type Actor struct {
	Name     string // admin:alice, local:cli, token:wfe_abc123, machine:<id>, system:gc
	SourceIP string
	// Scope limits what the actor may administer to its teams' machines
	// and tokens (fleet enforces it); nil: an owner, the local operator or
	// the server itself — everything.
	Scope *Scope
}

type dialect int

const (
	sqlite dialect = iota
	postgres
)

// DB is the store. It is safe for concurrent use.
type DB struct {
	w, r    *sql.DB // writer (one connection on SQLite) and readers
	dialect dialect
	path    string // the SQLite file
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open opens the database named by a URL: sqlite:///path/to/file.db (or
// sqlite://relative.db, or a bare path) or postgres://…, and migrates it.
func Open(ctx context.Context, dbURL string) (*DB, error) {
	switch {
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		return openPostgres(ctx, dbURL)
	case strings.HasPrefix(dbURL, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(dbURL, "sqlite://"))
	case strings.Contains(dbURL, "://"), looksLikeURL(dbURL):
		// A URL that is not ours must never become a SQLite file named
		// after it (a mangled PostgreSQL URL once left "postgres:/…" files
		// in the source tree).
		return nil, fmt.Errorf("store: unsupported database URL scheme in %q (want sqlite:// or postgres://)", redactURL(dbURL))
	default:
		return openSQLite(ctx, dbURL)
	}
}

// looksLikeURL reports whether a bare path starts with a URL scheme
// ("postgres:/x", "mysql:db"). A one-letter scheme is a Windows drive.
func looksLikeURL(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || len(scheme) < 2 {
		return false
	}
	for i, r := range scheme {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '.' || r == '-')) {
			return false
		}
	}
	return true
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable>"
	}
	return u.Redacted()
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	// WAL lets readers run beside the single writer; synchronous=FULL fsyncs
	// the WAL on every commit so an acknowledged write survives a crash of
	// the process and of the machine; busy_timeout rides out checkpoints.
	params := "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	w, err := sql.Open("sqlite", "file:"+path+params)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer; queue in Go, not in busy loops
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", "file:"+path+params+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{w: w, r: r, dialect: sqlite, Now: time.Now, path: path}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// Restrict the database files to their owner: they hold hashes only,
	// but also the audit log and the fleet's inventory.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Chmod(path+suffix, 0o600)
	}
	return db, nil
}

// openPostgres opens a PostgreSQL database (several replicas may share
// it). Writers and readers share one pool; row locks order the writes.
func openPostgres(ctx context.Context, dbURL string) (*DB, error) {
	pool, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", redactURL(dbURL), err)
	}
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(32)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.PingContext(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", redactURL(dbURL), err)
	}
	db := &DB{w: pool, r: pool, dialect: postgres, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// IsShared reports whether other server replicas may write to the same
// database (PostgreSQL), so the server must look for their changes.
func (db *DB) IsShared() bool { return db.dialect == postgres }

// Close closes the database.
func (db *DB) Close() error {
	if db.r == db.w {
		return db.w.Close()
	}
	return errors.Join(db.r.Close(), db.w.Close())
}

// Ping checks that the database answers; it backs /readyz.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// q rewrites '?' placeholders for the dialect.
func (db *DB) q(query string) string {
	if db.dialect != postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// NewerSchemaError is returned by Open for a database written by a newer
// server: this one stops before changing anything.
type NewerSchemaError struct {
	Database, Known int // the database's schema version; the newest this binary has
}

func (e *NewerSchemaError) Error() string {
	return fmt.Sprintf("store: the database has schema version %d, written by a newer wirefleet-server; this one knows versions up to %d. "+
		"Nothing was changed: run the newer server again, or restore a backup taken before the upgrade (wirefleet-server restore)", e.Database, e.Known)
}

func (db *DB) migrate(ctx context.Context) error {
	dir := "migrations/sqlite"
	if db.dialect == postgres {
		dir = "migrations/postgres"
	}
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("store: read migrations: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	// A database a newer server wrote may hold what this one cannot read
	// or would undo: refuse before touching anything.
	known := KnownSchema()
	var newest sql.NullInt64
	if err := db.w.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	if newest.Valid && int(newest.Int64) > known {
		return &NewerSchemaError{Database: int(newest.Int64), Known: known}
	}
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("store: migration %s: name must start with a number", e.Name())
		}
		body, err := migrations.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", e.Name(), err)
		}
		err = db.tx(ctx, func(tx *sql.Tx) error {
			if err := db.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, db.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("store: apply migration %s: %w", e.Name(), err)
		}
	}
	return db.initMeta(ctx)
}

// Meta keys.
const (
	metaULA     = "ula_prefix"
	metaVersion = "netmap_version"
	metaNextIP  = "next_ip_index"
	metaFlags   = "flags_version"
)

// initMeta generates the per-server values on first start: the ULA /48
// (RFC 4193: fd + 40 random bits) and the counters.
func (db *DB) initMeta(ctx context.Context) error {
	var g [5]byte
	if _, err := rand.Read(g[:]); err != nil {
		return fmt.Errorf("store: random ULA: %w", err)
	}
	ula := netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, g[0], g[1], g[2], g[3], g[4]}), 48)
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		for k, v := range map[string]string{metaULA: ula.String(), metaVersion: "1", metaNextIP: "1", metaFlags: "1"} {
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM meta WHERE key = ?`), k).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO meta (key, value) VALUES (?, ?)`), k, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// lockMigrations makes replicas that start together migrate one at a time
// (a transaction-scoped advisory lock on PostgreSQL; SQLite has one writer).
func (db *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if db.dialect != postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(725301)`)
	return err
}

// ULA returns the server's IPv6 overlay prefix.
func (db *DB) ULA(ctx context.Context) (netip.Prefix, error) {
	var s string
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaULA).Scan(&s); err != nil {
		return netip.Prefix{}, fmt.Errorf("store: read ULA prefix: %w", err)
	}
	return netip.ParsePrefix(s)
}

// NetmapVersion returns the current network-map version.
func (db *DB) NetmapVersion(ctx context.Context) (uint64, error) {
	var s string
	if err := db.r.QueryRowContext(ctx, db.q(`SELECT value FROM meta WHERE key = ?`), metaVersion).Scan(&s); err != nil {
		return 0, fmt.Errorf("store: read netmap version: %w", err)
	}
	return strconv.ParseUint(s, 10, 64)
}

// tx runs fn in a write transaction and commits it.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// bumpVersion increments the network-map version and logs which machine
// changed; it runs inside the transaction that made the change.
func (db *DB) bumpVersion(ctx context.Context, tx *sql.Tx, machineID string) (uint64, error) {
	var s string
	if err := tx.QueryRowContext(ctx, db.q(`UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = ? RETURNING value`), metaVersion).Scan(&s); err != nil {
		return 0, fmt.Errorf("bump netmap version: %w", err)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bump netmap version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO netmap_log (version, machine_id) VALUES (?, ?)`), v, machineID); err != nil {
		return 0, fmt.Errorf("log netmap change: %w", err)
	}
	return v, nil
}

// audit writes an audit event inside tx.
func (db *DB) audit(ctx context.Context, tx *sql.Tx, a Actor, action, target string, details map[string]any) error {
	d := "{}"
	if len(details) > 0 {
		b, err := json.Marshal(details)
		if err != nil {
			return fmt.Errorf("audit details: %w", err)
		}
		d = string(b)
	}
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO audit (at, actor, action, target, source_ip, details) VALUES (?, ?, ?, ?, ?, ?)`),
		db.Now().UnixMilli(), a.Name, action, target, a.SourceIP, d)
	if err != nil {
		return fmt.Errorf("write audit event %s: %w", action, err)
	}
	return nil
}

// newID returns a short random identifier with a kind prefix: 16 base32
// characters (80 bits), enough to never collide in one fleet.
func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	out := make([]byte, 0, len(prefix)+16)
	out = append(out, prefix...)
	var acc uint64
	bits := 0
	for _, c := range b {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out = append(out, alphabet[(acc>>bits)&31])
		}
	}
	return string(out)
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func nullMS(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func jsonList(l []string) string {
	if l == nil {
		l = []string{}
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func parseList(s string) []string {
	out := []string{}
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// isUnique reports whether err is a uniqueness violation on the named
// column (SQLite: "UNIQUE constraint failed: machines.name").
func isUnique(err error, column string) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return (strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "duplicate key")) && strings.Contains(s, column)
}

// Snapshot writes a consistent copy of a SQLite database to path while the
// server may be writing to it (VACUUM INTO reads one transaction's view).
func (db *DB) Snapshot(ctx context.Context, path string) error {
	if db.dialect == postgres {
		return errors.New("store: a PostgreSQL database is backed up with pg_dump (see the README)")
	}
	// A connection of its own: the readers are query-only, and the writer
	// must stay free for the server (a WAL reader does not block it).
	c, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
}

// SchemaVersion is the newest migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return int(v.Int64), nil
}

// ForgetMapHistory is for a database just restored from a backup: agents
// may hold map versions the restored server never had (changes made after
// the backup). It empties the change log and moves the map version past
// anything an agent can have seen, so every agent gets a full map at its
// next poll instead of a delta from a version that no longer means what
// it did.
func (db *DB) ForgetMapHistory(ctx context.Context, jump uint64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM netmap_log`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE meta SET value = CAST(CAST(value AS BIGINT) + ? AS TEXT) WHERE key = ?`), jump, metaVersion)
		return err
	})
}

// KnownSchema is the newest schema version this binary has.
func KnownSchema() int {
	entries, _ := fs.ReadDir(migrations, "migrations/sqlite")
	known := 0
	for _, e := range entries {
		if v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil && v > known {
			known = v
		}
	}
	return known
}

// CheckFile looks at a SQLite file without changing it: that it is a
// SQLite database whose pages are sound (quick_check), that it is a
// Wirefleet database (its schema_migrations and machines tables), and
// that this binary can run it (a schema version no newer than
// KnownSchema, else a *NewerSchemaError). It returns the schema version.
// Restore calls it before anything in a data directory moves.
func CheckFile(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	c, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer c.Close()
	var problem string
	if err := c.QueryRowContext(ctx, `PRAGMA quick_check(1)`).Scan(&problem); err != nil {
		return 0, fmt.Errorf("store: %s is not a SQLite database: %w", filepath.Base(path), err)
	}
	if problem != "ok" {
		return 0, fmt.Errorf("store: %s is damaged (quick_check: %s)", filepath.Base(path), problem)
	}
	var tables int
	if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('schema_migrations', 'machines')`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("store: read %s: %w", filepath.Base(path), err)
	}
	if tables != 2 {
		return 0, fmt.Errorf("store: %s is a SQLite database but not a Wirefleet one (no schema_migrations and machines tables)", filepath.Base(path))
	}
	var v sql.NullInt64
	if err := c.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version of %s: %w", filepath.Base(path), err)
	}
	if !v.Valid || v.Int64 < 1 {
		return 0, fmt.Errorf("store: %s has no schema version: not a Wirefleet database", filepath.Base(path))
	}
	if known := KnownSchema(); int(v.Int64) > known {
		return int(v.Int64), &NewerSchemaError{Database: int(v.Int64), Known: known}
	}
	return int(v.Int64), nil
}

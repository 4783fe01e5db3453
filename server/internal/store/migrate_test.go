package store

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store/storetest"
)

var updateDump = flag.Bool("update-dump", false, "write testdata/sqlite/schema-NNNN.sql from the current schema")

// TestMigrationSetsAreInStep: every schema change is written for both
// databases, under the same version and name.
func TestMigrationSetsAreInStep(t *testing.T) {
	names := func(dir string) []string {
		es, err := migrations.ReadDir("migrations/" + dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	lite, pg := names("sqlite"), names("postgres")
	if strings.Join(lite, " ") != strings.Join(pg, " ") {
		t.Fatalf("migrations differ:\n sqlite:   %v\n postgres: %v", lite, pg)
	}
}

// columns returns "table.column" for every column of the migrated schema.
func columns(t *testing.T, db *DB) []string {
	t.Helper()
	q := `SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	if db.dialect == postgres {
		q = `SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'public'`
	}
	rows, err := db.r.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// TestSchemasMatchAcrossDatabases: after all migrations, SQLite and
// PostgreSQL have the same tables and columns.
func TestSchemasMatchAcrossDatabases(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	lite, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := Open(ctx, storetest.FreshPostgres(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	a, b := columns(t, lite), columns(t, pg)
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Fatalf("schemas differ:\n sqlite:   %v\n postgres: %v", a, b)
	}
}

// dump writes the database as SQL: schema, then every row, so that a
// later schema can be tested against the data of this one.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name, ddl string
		rows.Scan(&name, &ddl)
		fmt.Fprintf(&b, "%s;\n", ddl)
		if strings.HasPrefix(strings.ToUpper(ddl), "CREATE TABLE") {
			tables = append(tables, name)
		}
	}
	rows.Close()
	for _, tbl := range tables {
		rows, err := db.Query(`SELECT * FROM "` + tbl + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			lits := make([]string, len(vals))
			for i, v := range vals {
				switch v := v.(type) {
				case nil:
					lits[i] = "NULL"
				case int64:
					lits[i] = fmt.Sprint(v)
				case float64:
					lits[i] = fmt.Sprint(v)
				case []byte:
					lits[i] = fmt.Sprintf("X'%X'", v)
				default:
					lits[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
				}
			}
			fmt.Fprintf(&b, "INSERT INTO \"%s\" VALUES(%s);\n", tbl, strings.Join(lits, ","))
		}
		rows.Close()
	}
	return b.String()
}

// populate fills a store with one of everything the schema holds.
func populate(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	tok := token(t, db, NewToken{Reusable: true, Tags: []string{"env:prod"}, MachineExpiry: 720 * time.Hour})
	var ids []string
	for _, name := range []string{"web-1", "laptop"} {
		m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, name))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if _, _, err := db.RevokeMachine(ctx, admin, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PinVersion(ctx, admin, ids[0], "1.5.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveHealth(ctx, []HealthEntry{{MachineID: ids[0], ReceivedAt: time.Now(), Report: wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", CPUPercent: 12,
		Update: &wire.UpdateStatus{From: "0.9.0", To: "1.0.0", State: "ok", At: time.Now()}}}}, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetFlag(ctx, admin, wire.Flag{Key: "new-ui", Type: wire.FlagBoolean, Enabled: true, Default: []byte(`false`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAdmin(ctx, admin, "alice", "$2a$04$notarealhash", NewAPIKey{Prefix: "wfa_abc", Hash: "keyhash"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SSOAdmin(ctx, admin, "sub-1", "carol@example.com", wire.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreatePending(ctx, "ABCD-EFGH", "pending-secret-hash", "192.0.2.1", wire.EnrollRequest{PublicKey: pubkey(t), Hostname: "waiting", OS: "linux", Arch: "amd64"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.RequestKeyRotation(ctx, admin, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.IssueNextCredential(ctx, ids[0], "next-credential-hash"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := db.SetPolicy(ctx, admin, `{"tags": ["tag:env:prod"], "rules": [{"src": ["tag:env:prod"], "dst": ["*"]}]}`, ""); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeFromEarlierSchemas opens each committed dump of an earlier
// schema with today's code: migrations bring it up to date and the data
// written under the old schema reads back. `-update-dump` writes the dump
// of the current schema (commit it with each schema change).
func TestUpgradeFromEarlierSchemas(t *testing.T) {
	files, _ := migrations.ReadDir("migrations/sqlite")
	current := filepath.Join("testdata", "sqlite", fmt.Sprintf("schema-%s.sql", strings.SplitN(files[len(files)-1].Name(), "_", 2)[0]))
	if *updateDump {
		db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "d.db"))
		if err != nil {
			t.Fatal(err)
		}
		populate(t, db)
		os.MkdirAll(filepath.Dir(current), 0o755)
		if err := os.WriteFile(current, []byte(dump(t, db.w)), 0o644); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	dumps, _ := filepath.Glob(filepath.Join("testdata", "sqlite", "schema-*.sql"))
	if len(dumps) == 0 {
		t.Fatal("no schema dumps under testdata/sqlite (run with -update-dump)")
	}
	if _, err := os.Stat(current); err != nil {
		t.Errorf("no dump of the current schema %s: run `WIREFLEET_TEST_POSTGRES=$(scripts/postgres.sh start) go test ./server/internal/store -run TestUpgrade -update-dump` and commit it (both databases' dumps)", current)
	}
	for _, d := range dumps {
		t.Run(filepath.Base(d), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "old.db")
			raw, err := sql.Open("sqlite", "file:"+path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := os.ReadFile(d)
			if _, err := raw.Exec(string(body)); err != nil {
				t.Fatalf("load %s: %v", d, err)
			}
			raw.Close()
			db, err := Open(ctx, "sqlite://"+path)
			if err != nil {
				t.Fatalf("open %s with today's schema: %v", d, err)
			}
			defer db.Close()
			checkUpgraded(t, db, d)
		})
	}
}

// checkUpgraded asserts that a store opened on a dump written by populate
// (under any schema) reads back what populate wrote and takes new writes.
func checkUpgraded(t *testing.T, db *DB, d string) {
	t.Helper()
	ctx := context.Background()
	ms, err := db.ListMachines(ctx, MachineFilter{})
	if err != nil || len(ms) != 2 {
		t.Fatalf("machines from %s: %d (%v)", d, len(ms), err)
	}
	web, err := db.Machine(ctx, "web-1")
	if err != nil || web.PinnedVersion != "1.5.0" || web.State != wire.MachineActive {
		t.Fatalf("web-1 from %s: %+v %v", d, web, err)
	}
	if f, err := db.Flag(ctx, "new-ui"); err != nil || !f.Enabled {
		t.Fatalf("flag from %s: %+v %v", d, f, err)
	}
	if h, err := db.Health(ctx, "web-1", 10); err != nil || h.Latest == nil {
		t.Fatalf("health from %s: %+v %v", d, h, err)
	}
	if _, err := db.UpdateHistory(ctx, web.ID, 10); err != nil {
		t.Fatalf("update history from %s: %v", d, err)
	}
	// And the old database takes new writes: an enrollment (a machine, an
	// audit row from the dump's sequence), a health report and a revocation.
	tok := token(t, db, NewToken{})
	m, _, err := db.Enroll(ctx, admin, enrollment(t, tok, "after-upgrade"))
	if err != nil {
		t.Fatalf("enroll after upgrading %s: %v", d, err)
	}
	if _, err := db.SaveHealth(ctx, []HealthEntry{{MachineID: m.ID, ReceivedAt: time.Now(), Report: wire.HealthReport{At: time.Now(), AgentVersion: "1.1.0", OS: "linux",
		Update: &wire.UpdateStatus{From: "1.0.0", To: "1.1.0", State: "ok", At: time.Now()}}}}, 10); err != nil {
		t.Fatalf("health after upgrading %s: %v", d, err)
	}
	if _, _, err := db.RevokeMachine(ctx, admin, m.ID); err != nil {
		t.Fatalf("revoke after upgrading %s: %v", d, err)
	}
}

// A database written by a newer server (a schema version this binary does
// not have) is refused with a clear error, and nothing in it changes.
func TestNewerSchemaIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, _ := sql.Open("sqlite", "file:"+path)
	defer raw.Close()
	snapshot := func() string {
		var parts []string
		for _, q := range []string{`SELECT group_concat(name) FROM (SELECT name FROM sqlite_master ORDER BY name)`, `SELECT group_concat(version) FROM schema_migrations`, `SELECT group_concat(key || '=' || value) FROM meta`} {
			var s sql.NullString
			raw.QueryRow(q).Scan(&s)
			parts = append(parts, s.String)
		}
		return strings.Join(parts, "|")
	}
	before := snapshot()
	_, err = Open(ctx, "sqlite://"+path)
	var newer *NewerSchemaError
	if !errors.As(err, &newer) || newer.Database != 999 || !strings.Contains(err.Error(), "newer wirefleet-server") || !strings.Contains(err.Error(), "Nothing was changed") {
		t.Fatalf("open = %v", err)
	}
	if after := snapshot(); after != before {
		t.Fatalf("the database changed:\n%s\n%s", before, after)
	}
}

package store

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/server/internal/store/storetest"
)

// TestUpgradeFromEarlierPostgresSchemas is TestUpgradeFromEarlierSchemas
// for PostgreSQL: each committed pg_dump of an earlier schema
// (testdata/postgres/schema-NNNN.sql, plain format as an operator's backup
// would be) is loaded with psql into a fresh database, opened with today's
// code, read back and written to.
//
// `-update-dump` with WIREFLEET_TEST_POSTGRES set writes the dump of the
// current schema from populate, and the dump of every earlier schema that
// has a SQLite dump but no PostgreSQL one: that release's PostgreSQL
// migrations (which are never edited once released) applied in order, then
// the rows the release wrote into its SQLite dump, then its sequences moved
// past them, exactly as a server of that release would have left them.
func TestUpgradeFromEarlierPostgresSchemas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal("psql (Debian's postgresql-client) is needed to load the dumps: ", err)
	}
	if *updateDump {
		writePostgresDumps(t, dsn)
	}
	lite, _ := filepath.Glob(filepath.Join("testdata", "sqlite", "schema-*.sql"))
	for _, l := range lite {
		if _, err := os.Stat(filepath.Join("testdata", "postgres", filepath.Base(l))); err != nil {
			t.Errorf("no PostgreSQL dump beside %s: run `WIREFLEET_TEST_POSTGRES=$(scripts/postgres.sh start) go test ./server/internal/store -run TestUpgrade -update-dump` and commit it", l)
		}
	}
	dumps, _ := filepath.Glob(filepath.Join("testdata", "postgres", "schema-*.sql"))
	if len(dumps) == 0 {
		t.Fatal("no schema dumps under testdata/postgres")
	}
	for _, d := range dumps {
		t.Run(filepath.Base(d), func(t *testing.T) {
			url := storetest.FreshPostgres(t, dsn)
			out, err := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", d).CombinedOutput()
			if err != nil {
				t.Fatalf("psql -f %s: %v\n%s", d, err, out)
			}
			db, err := Open(context.Background(), url)
			if err != nil {
				t.Fatalf("open %s with today's schema: %v", d, err)
			}
			defer db.Close()
			if v, err := db.SchemaVersion(context.Background()); err != nil || v != KnownSchema() {
				t.Fatalf("schema after opening %s: %d (%v), want %d", d, v, err, KnownSchema())
			}
			checkUpgraded(t, db, d)
		})
	}
}

// writePostgresDumps writes testdata/postgres/schema-NNNN.sql as described
// at TestUpgradeFromEarlierPostgresSchemas.
func writePostgresDumps(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "postgres")
	os.MkdirAll(dir, 0o755)
	lite, _ := filepath.Glob(filepath.Join("testdata", "sqlite", "schema-*.sql"))
	current := filepath.Join("testdata", "sqlite", fmt.Sprintf("schema-%04d.sql", KnownSchema()))
	if !slices.Contains(lite, current) {
		lite = append(lite, current) // TestUpgradeFromEarlierSchemas writes it after this test
	}
	for _, l := range lite {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "schema-"), ".sql"))
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out := filepath.Join(dir, filepath.Base(l))
		if _, err := os.Stat(out); err == nil && n != KnownSchema() {
			continue // an earlier release's dump never changes
		}
		url := storetest.FreshPostgres(t, dsn)
		if n == KnownSchema() {
			db, err := Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			populate(t, db)
			db.Close()
		} else {
			replayRelease(t, url, n, l)
		}
		body, err := exec.Command(pgDump, "--inserts", "--no-owner", "--no-privileges", "-d", url).Output()
		if err != nil {
			t.Fatalf("pg_dump schema %d: %v", n, err)
		}
		if err := os.WriteFile(out, body, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}
}

// replayRelease builds in the database at url what the release with schema
// version n left behind: its migrations, then the rows of its SQLite dump.
func replayRelease(t *testing.T, url string, n int, liteDump string) {
	t.Helper()
	ctx := context.Background()
	pool, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	raw, err := pool.Conn(ctx) // one session: the replication role below is per session
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	entries, _ := migrations.ReadDir("migrations/postgres")
	for _, e := range entries {
		v, _ := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if v > n {
			break
		}
		body, _ := migrations.ReadFile("migrations/postgres/" + e.Name())
		if _, err := raw.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("migration %s: %v", e.Name(), err)
		}
	}
	f, err := os.Open(liteDump)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The SQLite dump lists tables by name, not by reference: load the rows
	// with foreign keys unchecked, as pg_restore does.
	if _, err := raw.ExecContext(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "INSERT INTO ") {
			if _, err := raw.ExecContext(ctx, line); err != nil {
				t.Fatalf("%s: %s: %v", liteDump, line, err)
			}
		}
	}
	rows, err := raw.QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'`)
	if err != nil {
		t.Fatal(err)
	}
	var serials [][2]string
	for rows.Next() {
		var tbl, col string
		rows.Scan(&tbl, &col)
		serials = append(serials, [2]string{tbl, col})
	}
	rows.Close()
	for _, s := range serials {
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE((SELECT MAX(%s) FROM %s), 0) + 1, false)`, s[0], s[1], s[1], s[0])
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

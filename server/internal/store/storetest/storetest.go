// Package storetest holds helpers for tests that run against a real
// database. It lives apart from store so that the testing package is never
// linked into the server binary.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// FreshPostgres creates an empty database on the PostgreSQL server at dsn
// for one test, drops it when the test ends, and returns its URL. Tests of
// several packages use it to run against PostgreSQL.
func FreshPostgres(t testing.TB, dsn string) string {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "wf_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// PostgresEnv names the PostgreSQL server the tests may use; `make test`
// (and so CI) starts one with scripts/postgres.sh and sets it.
const PostgresEnv = "WIREFLEET_TEST_POSTGRES"

// PostgresDSN returns the PostgreSQL server the tests may use, or skips
// the test, saying how to get one.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		t.Skip("needs PostgreSQL: " + PostgresEnv + " (make test starts one with scripts/postgres.sh; CI runs it)")
	}
	return dsn
}

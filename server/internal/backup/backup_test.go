package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/datalock"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

func pub() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// server is a data directory with a database in use and the files a
// server keeps next to it.
func server(t *testing.T) (string, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(dir, "wirefleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	os.WriteFile(filepath.Join(dir, "tls.key"), []byte("-----BEGIN PRIVATE KEY-----\nkey\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("-----BEGIN CERTIFICATE-----\ncert\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "release-keys"), 0o700)
	os.WriteFile(filepath.Join(dir, "release-keys", "signing.key"), []byte("signing"), 0o600)
	os.WriteFile(filepath.Join(dir, "wirefleet.sock"), nil, 0o600) // not a real socket; must not be copied anyway
	return dir, db
}

func enroll(t *testing.T, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateToken(ctx, store.Actor{Name: "t"}, store.NewToken{Prefix: "wfe_t", Hash: "tok", Reusable: true}); err != nil && !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatal(err)
	}
	for i := range n {
		if _, _, err := db.Enroll(ctx, store.Actor{}, store.Enrollment{TokenHash: "tok", CredentialHash: fmt.Sprintf("cred-%d", i), PublicKey: pub(),
			Hostname: "h", Name: fmt.Sprintf("m%d", i), OS: "linux", Arch: "amd64", AgentVersion: "1"}); err != nil {
			t.Fatal(err)
		}
	}
}

// A backup taken while the database is being written restores into an
// empty directory as a consistent server: machines and their credentials,
// TLS and release keys; the map history is forgotten, so every agent,
// behind or ahead, gets a full map.
func TestBackupWhileWritingAndRestore(t *testing.T) {
	ctx := context.Background()
	dir, db := server(t)
	enroll(t, db, 50)
	st0, _ := db.LoadMapState(ctx, 10)
	// Keep writing while the backup runs.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			db.SaveHealth(ctx, []store.HealthEntry{{MachineID: st0.Machines[i%50].ID, ReceivedAt: time.Now(), Report: wire.HealthReport{AgentVersion: "1"}}}, 10)
		}
	}()
	var buf bytes.Buffer
	m, err := Create(ctx, db, dir, "test", "", &buf)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wirefleet.db", "tls.key", "tls.crt", "release-keys/signing.key"} {
		if m.Files[want] == "" {
			t.Errorf("%s not in the backup: %v", want, m.Files)
		}
	}
	if _, ok := m.Files["wirefleet.sock"]; ok || m.Schema < 9 {
		t.Errorf("manifest %+v", m)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 7 {
		t.Errorf("the backup left files behind: %v", entries)
	}

	into := filepath.Join(t.TempDir(), "restored")
	if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), into, "", false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(into, "tls.key")); string(b) != "-----BEGIN PRIVATE KEY-----\nkey\n" {
		t.Errorf("tls.key = %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(into, "tls.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("tls.key mode %v", fi.Mode())
	}
	rdb, err := store.Open(ctx, "sqlite://"+filepath.Join(into, "wirefleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if m, err := rdb.MachineByCredential(ctx, "cred-49"); err != nil || m.Name != "m49" {
		t.Fatalf("a credential after the restore: %+v %v", m, err)
	}
	st, _ := rdb.LoadMapState(ctx, 10)
	if len(st.Machines) != 50 || len(st.Log) != 0 || st.Version < st0.Version+MapJump {
		t.Fatalf("restored map: %d machines, %d log entries, version %d (was %d)", len(st.Machines), len(st.Log), st.Version, st0.Version)
	}
	// Into a directory that holds a database: refused without --force.
	if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), into, "", false); err == nil || !strings.Contains(err.Error(), "already holds a database") {
		t.Fatalf("restore over a database: %v", err)
	}
}

// Encrypted with a passphrase: without it or with another, nothing is
// restored; a damaged or cut archive is refused and leaves nothing behind.
func TestBackupEncryptedAndDamaged(t *testing.T) {
	ctx := context.Background()
	dir, db := server(t)
	enroll(t, db, 3)
	var buf bytes.Buffer
	if _, err := Create(ctx, db, dir, "test", "correct horse battery staple", &buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("PRIVATE KEY")) || !bytes.HasPrefix(buf.Bytes(), []byte(ageHeader)) {
		t.Fatal("the encrypted backup is readable")
	}
	empty := func() string { return filepath.Join(t.TempDir(), "d") }
	for _, pass := range []string{"", "wrong"} {
		d := empty()
		if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), d, pass, false); !errors.Is(err, ErrPassphrase) {
			t.Errorf("passphrase %q: %v", pass, err)
		}
		if _, err := os.Stat(filepath.Join(d, "wirefleet.db")); err == nil {
			t.Errorf("passphrase %q: a database was restored", pass)
		}
	}
	if m, err := Restore(ctx, bytes.NewReader(buf.Bytes()), empty(), "correct horse battery staple", false); err != nil || !m.Encrypted {
		t.Fatalf("right passphrase: %v", err)
	}

	var plain bytes.Buffer
	Create(ctx, db, dir, "test", "", &plain)
	b := plain.Bytes()
	for name, damaged := range map[string][]byte{
		"cut in half":  b[:len(b)/2],
		"not a backup": []byte("hello"),
		"empty":        nil,
	} {
		d := empty()
		if _, err := Restore(ctx, bytes.NewReader(damaged), d, "", false); err == nil {
			t.Errorf("%s: restored", name)
		}
		if _, err := os.Stat(filepath.Join(d, "wirefleet.db")); err == nil {
			t.Errorf("%s: a database was written", name)
		}
	}
}

// craft writes a backup archive of the given files with a manifest whose
// hashes match them, as an attacker or a broken tool could.
func craft(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	m := Manifest{Format: Format, CreatedAt: time.Now(), Schema: 1, Files: map[string]string{}}
	for n, b := range files {
		sum := sha256.Sum256(b)
		m.Files[n] = hex.EncodeToString(sum[:])
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	mb, _ := json.Marshal(m)
	tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mb))})
	tw.Write(mb)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o600, Size: int64(len(files[n]))})
		tw.Write(files[n])
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// fingerprint is every entry under dir with its kind, mode and content.
func fingerprint(t *testing.T, dir string) map[string]string {
	t.Helper()
	fp := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		v := fi.Mode().String()
		if d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:])
		}
		fp[rel] = v
		return nil
	})
	return fp
}

// snapshotDB is a real server database's bytes, changed by edit.
func snapshotDB(t *testing.T, edit string) []byte {
	t.Helper()
	ctx := context.Background()
	dir, db := server(t)
	enroll(t, db, 2)
	p := filepath.Join(t.TempDir(), "snap.db")
	if err := db.Snapshot(ctx, p); err != nil {
		t.Fatal(err)
	}
	if edit != "" {
		c, err := sql.Open("sqlite", "file:"+p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(edit); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	_ = dir
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A restore that cannot finish changes nothing: with --force over a
// server's data directory every byte stays as it was, and into an empty
// or missing directory nothing is left behind, so a retry needs no
// --force. Each case fails for a different reason found at a different
// stage: the archive, the staged database, or the move into place.
func TestRestoreThatFailsChangesNothing(t *testing.T) {
	ctx := context.Background()
	good := snapshotDB(t, "")
	notWirefleet := func() []byte {
		p := filepath.Join(t.TempDir(), "other.db")
		c, _ := sql.Open("sqlite", "file:"+p)
		c.Exec(`CREATE TABLE notes (body TEXT)`)
		c.Close()
		b, _ := os.ReadFile(p)
		return b
	}()
	cases := []struct {
		name  string
		files map[string][]byte
		raw   []byte
		want  string
		// inTheWay: the archive is sound; only what the data directory
		// already holds makes it fail.
		inTheWay bool
	}{
		{name: "newer schema", files: map[string][]byte{"wirefleet.db": snapshotDB(t, "INSERT INTO schema_migrations VALUES (99, 0)"), "tls.key": []byte("other key")}, want: "schema version 99"},
		{name: "garbage database", files: map[string][]byte{"wirefleet.db": bytes.Repeat([]byte("garbage!"), 4096), "tls.key": []byte("other key")}, want: "not a SQLite database"},
		{name: "another application's SQLite", files: map[string][]byte{"wirefleet.db": notWirefleet, "tls.key": []byte("other key")}, want: "not a Wirefleet one"},
		{name: "no database", files: map[string][]byte{"tls.key": []byte("other key")}, want: "holds no database"},
		{name: "a file where a directory is", files: map[string][]byte{"wirefleet.db": good, "tls.key": []byte("other key"), "release-keys": []byte("x")}, want: "is in the way", inTheWay: true},
		{name: "a directory where a file is", files: map[string][]byte{"wirefleet.db": good, "tls.key/inner": []byte("x")}, want: "is in the way", inTheWay: true},
		{name: "a journal smuggled in", files: map[string][]byte{"wirefleet.db": good, "wirefleet.db-wal": []byte("x")}, want: "unexpected entry"},
		{name: "the lock file", files: map[string][]byte{"wirefleet.db": good, datalock.Name: []byte("x")}, want: "unexpected entry"},
		{name: "empty archive", raw: func() []byte {
			var b bytes.Buffer
			gz := gzip.NewWriter(&b)
			tar.NewWriter(gz).Close()
			gz.Close()
			return b.Bytes()
		}(), want: "archive is empty"},
		{name: "manifest over 1 MiB", raw: func() []byte {
			var b bytes.Buffer
			gz := gzip.NewWriter(&b)
			tw := tar.NewWriter(gz)
			big := append([]byte(`{"format":1,"pad":"`), bytes.Repeat([]byte("a"), 1<<20)...)
			big = append(big, `"}`...)
			tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(big))})
			tw.Write(big)
			tw.Close()
			gz.Close()
			return b.Bytes()
		}(), want: "more than the"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			archive := tc.raw
			if archive == nil {
				archive = craft(t, tc.files)
			}
			dir, db := server(t)
			enroll(t, db, 3)
			db.Close()
			before := fingerprint(t, dir)
			_, err := Restore(ctx, bytes.NewReader(archive), dir, "", true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("--force over a server: %v, want an error saying %q", err, tc.want)
			}
			if after := fingerprint(t, dir); !maps.Equal(before, after) {
				t.Errorf("the data directory changed:\nbefore %v\nafter  %v", before, after)
			}
			if tc.inTheWay {
				return
			}

			empty := t.TempDir()
			if _, err := Restore(ctx, bytes.NewReader(archive), empty, "", false); err == nil {
				t.Fatal("into an empty directory: restored")
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Errorf("an empty directory was left with %v", entries)
			}
			missing := filepath.Join(t.TempDir(), "new")
			Restore(ctx, bytes.NewReader(archive), missing, "", false)
			if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a directory restore made was left behind: %v", err)
			}
		})
	}
}

// Restore refuses while a server holds the data directory's lock, even
// with --force and with the admin socket gone.
func TestRestoreRefusedUnderARunningServer(t *testing.T) {
	ctx := context.Background()
	dir, db := server(t)
	enroll(t, db, 1)
	var buf bytes.Buffer
	if _, err := Create(ctx, db, dir, "test", "", &buf); err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.Remove(filepath.Join(dir, "wirefleet.sock"))
	lock, err := datalock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, dir)
	if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), dir, "", true); !errors.Is(err, datalock.ErrHeld) {
		t.Fatalf("restore under a held lock: %v", err)
	}
	if after := fingerprint(t, dir); !maps.Equal(before, after) {
		t.Errorf("the data directory changed:\nbefore %v\nafter  %v", before, after)
	}
	lock.Release(false)
	if _, err := Restore(ctx, bytes.NewReader(buf.Bytes()), dir, "", true); err != nil {
		t.Fatalf("restore once the server is gone: %v", err)
	}
}

package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
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

package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/backup"
	"github.com/wirefleet/wirefleet/server/internal/store"
	"github.com/wirefleet/wirefleet/server/internal/store/storetest"
)

// The restore drill on real processes: a backup taken while the server
// serves, the server gone, the backup restored into a fresh directory and
// a server started on it. The agent's credential still works; an agent
// whose map is ahead of the restored server (it saw a change made after
// the backup) gets a full map without waiting, and the machine enrolled
// after the backup is not there. A server that is still running keeps its
// data directory; a newer database is refused at start. The server's
// secrets are sealed: backups carry them sealed and never the key, and the
// restored server starts on "another machine" with a copy of the key.
func TestBackupRestoreDrill(t *testing.T) {
	data, restored := t.TempDir(), filepath.Join(t.TempDir(), "restored")
	addr := freePort(t)
	const metricsToken = "metrics-token-of-the-drill-0123456789"
	tokFile := filepath.Join(t.TempDir(), "metrics-token")
	os.WriteFile(tokFile, []byte(metricsToken+"\n"), 0o600)
	p := start(t, nil, "--data-dir", data, "--listen", addr, "--insecure-http", "--metrics-token-file", tokFile)
	anon, _ := client.New(p.url)
	cur := data // the data directory of the server running now
	enroll := func(host string) (*client.Client, wire.EnrollResponse) {
		var tr wire.CreateTokenResponse
		json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", cur, "--json")), &tr)
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := client.New(p.url, client.WithToken(en.Credential))
		return c, en
	}
	a, aEn := enroll("keeper")
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("a passphrase long enough\n"), 0o600)
	file := filepath.Join(t.TempDir(), "wf.backup")
	out := mustCLI(t, "backup", "--to", file, "--data-dir", data, "--passphrase-file", pass)
	if !strings.Contains(out, "encrypted with the passphrase") {
		t.Fatalf("backup: %s", out)
	}
	// An unencrypted backup holds the sealed store, not the secrets nor
	// the key that opens them.
	plainBackup := filepath.Join(t.TempDir(), "plain.backup")
	mustCLI(t, "backup", "--to", plainBackup, "--data-dir", data)
	archive := gunzip(t, plainBackup)
	for _, needle := range []string{metricsToken, "AGE-SECRET-KEY", "PRIVATE KEY"} {
		if strings.Contains(archive, needle) {
			t.Errorf("the backup holds %q in the clear", needle)
		}
	}
	if !strings.Contains(archive, "secrets/index.json") {
		t.Error("the backup lacks the sealed store")
	}
	// After the backup: another machine, which the agent's map then holds.
	enroll("latecomer")
	v := &wire.View{}
	nm, err := a.Netmap(context.Background(), 0, client.NoWait)
	if err != nil {
		t.Fatal(err)
	}
	v.Apply(nm)
	if len(v.Peers) != 1 {
		t.Fatalf("before the restore the agent sees %d peers", len(v.Peers))
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()

	if out, err := cli(t, "restore", file, "--data-dir", restored); err == nil || !strings.Contains(out, "encrypted") {
		t.Fatalf("restore without the passphrase: %v\n%s", err, out)
	}
	// Another machine: the key travels apart from the backup.
	key, _ := os.ReadFile(data + ".kek")
	moved := filepath.Join(t.TempDir(), "kek")
	os.WriteFile(moved, key, 0o600)
	out = mustCLI(t, "restore", file, "--data-dir", restored, "--passphrase-file", pass, "--secrets-key-file", moved)
	if !strings.Contains(out, "restored") || !strings.Contains(out, "the key opens all 1 sealed secrets") {
		t.Fatalf("restore: %s", out)
	}
	if out, err := cli(t, "serve", "--data-dir", restored, "--listen", addr, "--insecure-http"); err == nil || !strings.Contains(out, "sealed to age1") {
		t.Fatalf("the restored server without its key: %v\n%s", err, out)
	}
	p2 := start(t, nil, "--data-dir", restored, "--listen", addr, "--insecure-http", "--secrets-key-file", moved)
	req, _ := http.NewRequest("GET", p2.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the sealed metrics token after the restore: %v %v", resp, err)
	}
	anon, _ = client.New(p2.url)
	cur = restored
	// One change on the restored server: without forgetting the map
	// history, its version would now equal the one the agent holds (made
	// of other changes) and the agent would be told "unchanged".
	_, newcomer := enroll("newcomer")
	a2, _ := client.New(p2.url, client.WithToken(aEn.Credential))
	nm, err = a2.Netmap(context.Background(), v.Version, client.NoWait)
	if err != nil {
		t.Fatalf("the agent's credential after the restore: %v", err)
	}
	if !nm.Full || len(nm.Peers) != 1 || nm.Peers[0].ID != newcomer.MachineID {
		t.Fatalf("the agent (at map version %d) got %+v; want a full map with the newcomer and without the latecomer", v.Version, nm)
	}
	// Restoring over a running server's directory is refused.
	if out, err := cli(t, "restore", file, "--data-dir", restored, "--passphrase-file", pass, "--force"); err == nil || !strings.Contains(out, "stop it first") {
		t.Fatalf("restore over a running server: %v\n%s", err, out)
	}
}

// PostgreSQL: pg_dump and pg_restore (Debian's), then `restore --db`; the
// machines and credentials are there and the map history is forgotten.
func TestPostgresDumpRestore(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/run installs postgresql)", tool)
		}
	}
	ctx := context.Background()
	src, dst := storetest.FreshPostgres(t, dsn), storetest.FreshPostgres(t, dsn)
	db, err := store.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateToken(ctx, store.Actor{Name: "t"}, store.NewToken{Prefix: "wfe_t", Hash: "tok", Reusable: true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Enroll(ctx, store.Actor{}, store.Enrollment{TokenHash: "tok", CredentialHash: "cred-1", PublicKey: pubkey(), Hostname: "h", Name: "m1", OS: "linux", Arch: "amd64", AgentVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	before, _ := db.LoadMapState(ctx, 10)
	db.Close()
	dump := filepath.Join(t.TempDir(), "wf.dump")
	for _, c := range [][]string{{"pg_dump", "-Fc", "-f", dump, "-d", src}, {"pg_restore", "--no-owner", "-d", dst, dump}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	mustCLI(t, "restore", "--db", dst)
	rdb, err := store.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if m, err := rdb.MachineByCredential(ctx, "cred-1"); err != nil || m.Name != "m1" {
		t.Fatalf("credential after pg_restore: %+v %v", m, err)
	}
	if st, _ := rdb.LoadMapState(ctx, 10); len(st.Log) != 0 || st.Version < before.Version+backup.MapJump {
		t.Fatalf("map history: %d entries, version %d (was %d)", len(st.Log), st.Version, before.Version)
	}
}

// gunzip returns a gzip file's content.
func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

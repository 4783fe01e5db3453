package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestRestoreDrill: the backup is taken under load (agents reporting
// health every second), the server is lost, the backup is restored into a
// fresh data directory and a server started on it at the same address.
// The tunnel keeps carrying pings throughout (none is lost while the
// server is away), every agent reconnects with its old credential, and a
// revocation made on the restored server reaches the revoked agent.
func TestRestoreDrill(t *testing.T) {
	f := newFleet(t, 4)
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(f.hosts[2], 2)
	c := f.enroll(f.hosts[3], 3)
	eventually(t, 20*time.Second, "a pings b", func() bool { return a.h.ping(b.ipv4()) })

	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("drill passphrase 1234\n"), 0o600)
	file := filepath.Join(t.TempDir(), "drill.backup")
	out := run(t, f.server, "backup", "--to", file, "--data-dir", f.data, "--passphrase-file", pass)
	t.Logf("%s", strings.TrimSpace(out))

	// Ping a → b every 100 ms from now to the end.
	var sent, lost atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			sent.Add(1)
			if !a.h.ping(b.ipv4()) {
				lost.Add(1)
			}
		}
	}()

	// The server is lost with its data directory.
	f.srv.cmd.Process.Signal(syscall.SIGKILL)
	f.srv.cmd.Wait()
	os.RemoveAll(f.data)
	t0 := time.Now()
	out = run(t, f.server, "restore", file, "--data-dir", f.data, "--passphrase-file", pass)
	if !strings.Contains(out, "restored") {
		t.Fatalf("restore: %s", out)
	}
	f.srv = f.startServer()
	took := eventually(t, 90*time.Second, "all three agents hold long-polls on the restored server", func() bool { return connected(f.data) == 3 })
	t.Logf("restored and started in %v; every agent reconnected %v later", (time.Since(t0) - took).Round(time.Millisecond), took.Round(time.Millisecond))

	// The restored server acts on the fleet: a revocation reaches the
	// revoked agent over its restored credential and poll.
	run(t, f.server, "machines", "revoke", c.name(), "--data-dir", f.data)
	eventually(t, 10*time.Second, "the revoked agent removes its interface", func() bool { return c.h.cmd("ip", "link", "show", c.iface).Run() != nil })
	close(stop)
	<-done
	t.Logf("pings a → b while the server was lost and restored: %d sent, %d lost", sent.Load(), lost.Load())
	if lost.Load() > 0 {
		t.Errorf("%d of %d pings lost: the tunnel must not depend on the server", lost.Load(), sent.Load())
	}
	if !a.h.ping(b.ipv4()) {
		t.Fatal("a no longer reaches b after the restore")
	}
}

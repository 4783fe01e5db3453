package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
)

// TestInstallerSteps runs the steps the MSI's custom actions run (on
// Linux: the steps are the same code) against a real server: enrolling
// again with the same server keeps the enrollment, a rollback undoes only
// an enrollment its installation made (and tells the server), a commit
// makes it stay, and uninstall removes secrets and state, telling the
// server only with --unenroll.
func TestInstallerSteps(t *testing.T) {
	f := newFleet(t, 2)
	h := f.hosts[1]
	admin, err := client.New("http://local", client.WithUnixSocket(filepath.Join(f.data, "wirefleet.sock")))
	if err != nil {
		t.Fatal(err)
	}
	revoked := func(id string) bool {
		m, err := admin.Machine(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return m.RevokedAt != nil
	}
	machineID := func(dir string) string {
		var cfg struct {
			MachineID string `json:"machine_id"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			return ""
		}
		json.Unmarshal(b, &cfg)
		return cfg.MachineID
	}
	agent := func(dir string, args ...string) string {
		return h.run(t, bins+"/wirefleet-agent", append(append([]string{"installer"}, args...), "--state-dir", dir)...)
	}
	enroll := func(dir string, extra ...string) string {
		return agent(dir, append([]string{"enroll", "--server", f.serverURL, "--token", f.token(), "--pin", f.pin}, extra...)...)
	}

	// Install, then re-install with a token: one enrollment, kept.
	dir := t.TempDir()
	enroll(dir)
	id := machineID(dir)
	agent(dir, "commit")
	out := enroll(dir)
	if !strings.Contains(out, "enrollment kept") || machineID(dir) != id {
		t.Fatalf("second install enrolled again (%s → %s):\n%s", id, machineID(dir), out)
	}
	// A rollback after a committed install, or of a re-install that
	// kept the enrollment, changes nothing.
	if out := agent(dir, "rollback"); !strings.Contains(out, "nothing to roll back") || machineID(dir) != id || revoked(id) {
		t.Fatalf("rollback of a kept enrollment:\n%s", out)
	}
	// FORCE=1 enrolls again.
	enroll(dir, "--force")
	if machineID(dir) == id {
		t.Fatal("--force kept the old enrollment")
	}
	agent(dir, "commit")

	// A failed install: its rollback revokes the new machine at the
	// server and wipes it here.
	failed := t.TempDir()
	enroll(failed)
	fid := machineID(failed)
	if out := agent(failed, "rollback"); !strings.Contains(out, "rolled back") {
		t.Fatalf("rollback:\n%s", out)
	}
	if machineID(failed) != "" || !revoked(fid) || secrets(t, failed) != 0 {
		t.Fatalf("after rollback: config %q, revoked %v, %d secrets", machineID(failed), revoked(fid), secrets(t, failed))
	}

	// A bad token fails and leaves nothing.
	bad := t.TempDir()
	if out, err := h.cmd(bins+"/wirefleet-agent", "installer", "enroll", "--server", f.serverURL, "--token", "wfe_bogus", "--pin", f.pin, "--state-dir", bad).CombinedOutput(); err == nil {
		t.Fatalf("a bad token enrolled:\n%s", out)
	}
	if machineID(bad) != "" || secrets(t, bad) != 0 {
		t.Fatal("a failed enrollment left state")
	}

	// Uninstall keeps the machine listed unless told --unenroll.
	id = machineID(dir)
	agent(dir, "uninstall")
	if revoked(id) || secrets(t, dir) != 0 || machineID(dir) != "" {
		t.Fatalf("uninstall: revoked %v, %d secrets left", revoked(id), secrets(t, dir))
	}
	again := t.TempDir()
	enroll(again)
	agent(again, "commit")
	aid := machineID(again)
	agent(again, "uninstall", "--unenroll")
	if !revoked(aid) || secrets(t, again) != 0 {
		t.Fatalf("uninstall --unenroll: revoked %v, %d secrets left", revoked(aid), secrets(t, again))
	}
	if _, err := os.Stat(again); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(again)
		t.Fatalf("state directory left with %v", entries)
	}
}

// secrets counts the files the agent keeps secrets in under dir.
func secrets(t *testing.T, dir string) int {
	entries, _ := os.ReadDir(filepath.Join(dir, "secrets"))
	return len(entries)
}

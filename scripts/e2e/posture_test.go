package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// postureE2EPolicy protects the database's port behind a posture on the
// agent's version; pings are allowed to everyone, so an old agent stays
// the database's peer and only the database's own filter keeps it out.
const postureE2EPolicy = `{
  "tags": ["tag:eng", "tag:db"],
  "postures": {"current": ["agent.version >= 2.0.0"]},
  "rules": [
    {"src": ["tag:eng"], "dst": ["tag:db"], "proto": "tcp", "ports": ["5432"], "srcPosture": ["current"]},
    {"src": ["*"], "dst": ["*"], "proto": "icmp"},
  ],
}
`

// TestPostureFollowsTheAgentVersion: two laptops under a posture that
// wants agent 2.0.0. The one running 2.0.0 reaches the database; the one
// running 1.0.0 may ping it but its connections are dropped by the
// database's filter. Publishing 2.0.0 updates the old one through the
// real self-update (verified, health-gated, under a supervisor as
// systemd runs it), its new facts move it to the posture, and it reaches
// the database within seconds with no policy change.
func TestPostureFollowsTheAgentVersion(t *testing.T) {
	f := newFleet(t, 4)
	work := t.TempDir()
	v1, v2 := buildAgent(t, work, "1.0.0", nil), buildAgent(t, work, "2.0.0", nil)
	publish := f.publisher(t, work)
	publish("1.0.0", v1)
	run(t, f.server, "policy", "set", writeFile(t, work, "posture.hujson", postureE2EPolicy), "--data-dir", f.data)

	noUpdates := []string{"--update-interval", "0"} // only the old laptop updates itself
	db := f.enrollWith(f.hosts[3], 3, noUpdates, "db")
	startProc(t, db.h.cmd("nc", "-lk", "5432"))
	f.nextBin = v2
	current := f.enrollWith(f.hosts[2], 2, noUpdates, "eng")

	// The old laptop runs the way systemd runs it: restarted whenever it
	// exits, as a self-update makes it.
	dir := t.TempDir()
	exe, stop := filepath.Join(dir, "bin", "wirefleet-agent"), filepath.Join(dir, "stop")
	os.MkdirAll(filepath.Dir(exe), 0o755)
	b, _ := os.ReadFile(v1)
	os.WriteFile(exe, b, 0o755)
	wrapper := filepath.Join(dir, "supervised")
	os.WriteFile(wrapper, []byte(fmt.Sprintf("#!/bin/sh\nif [ \"$1\" != run ]; then exec %s \"$@\"; fi\nwhile [ ! -e %s ]; do %s \"$@\" --update-interval 1h --update-gate 8s; sleep 0.3; done\n", exe, stop, exe)), 0o755)
	t.Cleanup(func() {
		os.WriteFile(stop, nil, 0o644)
		exec.Command("pkill", "-f", dir).Run()
	})
	f.nextBin = wrapper
	old := f.enroll(f.hosts[1], 1, "eng")

	connects := func(from *agent) bool {
		return from.h.cmd("nc", "-z", "-w", "2", db.ipv4(), "5432").Run() == nil
	}
	eventually(t, 30*time.Second, "the 2.0.0 laptop reaches db:5432", func() bool { return connects(current) })
	eventually(t, 30*time.Second, "the 1.0.0 laptop is db's peer (it may ping)", func() bool { return old.h.ping(db.ipv4()) })
	if connects(old) {
		t.Fatal("the 1.0.0 laptop reaches db:5432, which the posture forbids")
	}
	show := run(t, f.server, "policy", "test", "machine:"+old.name(), "machine:"+db.name()+":5432", "--data-dir", f.data)
	if !strings.Contains(show, "denied") || !strings.Contains(show, "agent.version is 1.0.0; the posture wants agent.version >= 2.0.0") {
		t.Fatalf("policy test does not say why:\n%s", show)
	}
	if out := run(t, f.server, "policy", "test", "machine:"+old.name(), "machine:"+db.name()+":5432", "--src-facts", "agent.version=2.0.1", "--data-dir", f.data); !strings.Contains(out, "allowed") {
		t.Fatalf("policy test --src-facts:\n%s", out)
	}

	publish("2.0.0", v2)
	took := eventually(t, 90*time.Second, "the updated laptop reaches db:5432", func() bool { return connects(old) })
	t.Logf("1.0.0 laptop reaches db:5432 %v after 2.0.0 was published (self-update, new facts, new class)", took.Round(time.Millisecond))
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "2.0.0") {
		t.Fatalf("the laptop's binary after the update: %s", out)
	}
}

// writeFile writes text to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

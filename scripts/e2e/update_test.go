package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSelfUpdateWithRollback: an agent at 1.0.0 moves to a published 2.0.0;
// a 3.0.0 that exits at start is rolled back to 2.0.0 and the server shows
// the failed update; a 4.0.0 whose file does not match its signature is
// never applied; an older 1.5.0 is refused.
func TestSelfUpdateWithRollback(t *testing.T) {
	f := newFleet(t, 2)
	h := f.hosts[1]
	work := t.TempDir()
	build := func(version string) string { return buildAgent(t, work, version, nil) }
	v1, v15, v2, v4 := build("1.0.0"), build("1.5.0"), build("2.0.0"), build("4.0.0")
	v3 := filepath.Join(work, "agent-3.0.0") // passes its self-test, exits at start
	os.WriteFile(v3, []byte(fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = self-test ]; then echo 'wirefleet-agent 3.0.0 %s/%s'; exit 0; fi\nexit 1\n", runtime.GOOS, runtime.GOARCH)), 0o755)

	publish := f.publisher(t, work)
	keys, target := filepath.Join(work, "keys"), runtime.GOOS+"/"+runtime.GOARCH
	publish("1.0.0", v1)
	dir, exe, state := f.installAgent(t, h, v1)
	b, _ := os.ReadFile(v1)

	// Run the agent the way systemd does: restart it whenever it exits.
	sup := supervisor(t, h, dir, exe, state, "wfu", 8*time.Second)()
	machine := f.soleMachine
	eventually(t, 20*time.Second, "agent 1.0.0 reports", func() bool { return machine().AgentVersion == "1.0.0" })

	// A 0 % rollout reaches nobody (it used to mean 100 %): the agent,
	// told of the release at its next health report, stays on 1.0.0.
	publish("2.0.0", v2, "--rollout", "0")
	time.Sleep(5 * time.Second) // health every second: several release tags seen
	if m := machine(); m.AgentVersion != "1.0.0" {
		t.Fatalf("a 0%% rollout was taken: the agent runs %s", m.AgentVersion)
	}
	t0 := time.Now()
	publish("2.0.0", v2, "--rollout", "100")
	eventually(t, 60*time.Second, "agent updates itself to 2.0.0", func() bool {
		m := machine()
		return m.AgentVersion == "2.0.0" && m.LastUpdate != nil && m.LastUpdate.State == "ok" && m.LastUpdate.To == "2.0.0"
	})
	t.Logf("1.0.0 → 2.0.0 committed %v after publishing", time.Since(t0).Round(time.Millisecond))
	eventually(t, 5*time.Second, "the watchdog removes the previous binary after the commit", func() bool {
		_, err := os.Stat(exe + ".old")
		return os.IsNotExist(err)
	})

	// A paused rollout stops agents from taking the next release.
	run(t, f.server, "releases", "pause", "stable", "--data-dir", f.data)
	publish("3.0.0", v3)
	if l := run(t, f.server, "releases", "list", "--data-dir", f.data); !regexp.MustCompile(`stable\s+3\.0\.0\s+100% PAUSED`).MatchString(l) {
		t.Fatalf("3.0.0 not listed as paused:\n%s", l)
	}
	time.Sleep(6 * time.Second)
	if m := machine(); m.AgentVersion != "2.0.0" || m.LastUpdate.To != "2.0.0" {
		t.Fatalf("agent moved during a paused rollout: %+v", m.LastUpdate)
	}
	t0 = time.Now()
	run(t, f.server, "releases", "resume", "stable", "--data-dir", f.data)
	eventually(t, 90*time.Second, "broken 3.0.0 rolled back to 2.0.0 and reported", func() bool {
		m := machine()
		return m.LastUpdate != nil && m.LastUpdate.To == "3.0.0" && m.LastUpdate.State == "rolled_back" && m.AgentVersion == "2.0.0"
	})
	t.Logf("3.0.0 rolled back and reported %v after publishing", time.Since(t0).Round(time.Millisecond))
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "2.0.0") {
		t.Fatalf("binary after rollback: %s", out)
	}

	// A 4.0.0 whose published file is then swapped for other bytes. The
	// channel is paused meanwhile, so that the agent cannot fetch the
	// genuine file in the moment between publishing and swapping.
	run(t, f.server, "releases", "pause", "stable", "--data-dir", f.data)
	publish("4.0.0", v4)
	name := filepath.Join(f.data, "releases", "files", fmt.Sprintf("wirefleet-agent-4.0.0-%s-%s", runtime.GOOS, runtime.GOARCH))
	os.WriteFile(name, append(b, []byte("tampered")...), 0o644)
	run(t, f.server, "releases", "resume", "stable", "--data-dir", f.data)
	eventually(t, 30*time.Second, "tampered 4.0.0 refused", func() bool { return strings.Contains(sup.output(), "SHA-256 mismatch") })
	if m := machine(); m.AgentVersion != "2.0.0" {
		t.Fatalf("a tampered release was applied: %s", m.AgentVersion)
	}

	// Publishing an older release needs --allow-older; once published,
	// agents refuse it (anti-rollback).
	if out, err := exec.Command(f.server, "releases", "publish", "--keys", keys, "--data-dir", f.data, "--version", "1.5.0", "--file", target+"="+v15).CombinedOutput(); err == nil || !strings.Contains(string(out), "--allow-older") {
		t.Fatalf("publishing an older version without --allow-older: %v\n%s", err, out)
	}
	publish("1.5.0", v15, "--allow-older")
	time.Sleep(6 * time.Second)
	if m := machine(); m.AgentVersion != "2.0.0" {
		t.Fatalf("downgraded to %s", m.AgentVersion)
	}
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "2.0.0") {
		t.Fatalf("binary after an older release: %s", out)
	}

	// …unless an admin pins the machine to it: then it goes back, through
	// the same verified, health-gated path.
	t0 = time.Now()
	run(t, f.server, "machines", "pin", machine().Name, "1.5.0", "--data-dir", f.data)
	eventually(t, 60*time.Second, "agent pinned to 1.5.0 moves back to it", func() bool {
		m := machine()
		return m.AgentVersion == "1.5.0" && m.PinnedVersion == "1.5.0" && m.LastUpdate != nil && m.LastUpdate.State == "ok" && m.LastUpdate.To == "1.5.0"
	})
	t.Logf("pin to 1.5.0 committed %v after pinning", time.Since(t0).Round(time.Millisecond))
	if out, _ := exec.Command(exe, "--version").Output(); !strings.Contains(string(out), "1.5.0") {
		t.Fatalf("binary after pinning: %s", out)
	}
	// Every attempt stays in the machine's history, the failures too.
	show := run(t, f.server, "machines", "show", machine().Name, "--data-dir", f.data)
	for _, want := range []string{`1\.0\.0\s+2\.0\.0\s+installed`, `2\.0\.0\s+3\.0\.0\s+FAILED, rolled back\s+version 3\.0\.0 did not report`,
		`2\.0\.0\s+4\.0\.0\s+REFUSED before install\s+release: SHA-256 mismatch`, `2\.0\.0\s+1\.5\.0\s+installed`} {
		if !regexp.MustCompile(want).MatchString(show) {
			t.Fatalf("machines show lacks %s:\n%s", want, show)
		}
	}
	if l := run(t, f.server, "releases", "list", "--data-dir", f.data); !regexp.MustCompile(`\S+\s+\S+\s+2\.0\.0\s+3\.0\.0\s+FAILED, rolled back`).MatchString(l) {
		t.Fatalf("releases list does not show the failed update:\n%s", l)
	}
	run(t, f.server, "machines", "unpin", machine().Name, "--data-dir", f.data)
	if m := machine(); m.PinnedVersion != "" {
		t.Fatalf("still pinned after unpin: %q", m.PinnedVersion)
	}
}

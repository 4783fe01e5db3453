package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestTLSRotationKeepsAgents rotates the server's self-signed TLS key
// twice with agents connected: each rotation waits until both agents hold
// the announced next key, no agent's connection drops, new connections get
// the new key, and agents restarted after each rotation reach the server
// with the key they learned from their maps.
func TestTLSRotationKeepsAgents(t *testing.T) {
	f := newFleet(t, 3)
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(f.hosts[2], 2)
	eventually(t, 20*time.Second, "a reaches b", func() bool { return a.h.ping(b.ipv4()) })
	eventually(t, 10*time.Second, "both agents polling", func() bool { return connected(f.data) == 2 })
	// serves says whether a new connection (curl, from a's namespace) gets
	// the key with this pin.
	serves := func(pin string) bool {
		return a.h.cmd("curl", "-fsS", "-o", "/dev/null", "-k", "--pinnedpubkey", "sha256//"+strings.TrimPrefix(pin, "sha256/"),
			f.serverURL+"/healthz").Run() == nil
	}
	for round := 1; round <= 2; round++ {
		var r wire.TLSRotateResponse
		t0 := time.Now()
		took := eventually(t, 20*time.Second, "both agents confirmed the next key and the rotation ran", func() bool {
			out, err := f.hosts[0].cmd(f.server, "tls", "rotate", "--data-dir", f.data, "--json").CombinedOutput()
			if err != nil {
				if !strings.Contains(string(out), "have not confirmed the next key") {
					t.Fatalf("tls rotate: %v\n%s", err, out)
				}
				return false
			}
			return json.Unmarshal(out, &r) == nil
		})
		t.Logf("rotation %d: ran %v after the first try (agents confirm the next key in their 1 s health reports)", round, took.Round(time.Millisecond))
		if !serves(r.Pin) {
			t.Fatalf("rotation %d: new connections do not get the new key %s", round, r.Pin)
		}
		// Both still hold their polls: at most the moment of a re-poll
		// (a map change answers held polls — the agents' first fact
		// reports land about now), never a failed one (checked at the end).
		eventually(t, 5*time.Second, fmt.Sprintf("rotation %d: both agents polling right after it (none may drop)", round), func() bool { return connected(f.data) == 2 })
		if !a.h.ping(b.ipv4()) {
			t.Errorf("rotation %d: a no longer reaches b", round)
		}
		// A fresh start dials anew: it must accept the new key.
		restarted := a
		if round == 2 {
			restarted = b
		}
		restarted.proc.cmd.Process.Signal(syscall.SIGTERM)
		restarted.proc.cmd.Wait()
		restarted.start(t)
		eventually(t, 20*time.Second, "the restarted agent polls again with the new key", func() bool { return connected(f.data) == 2 })
		if strings.Contains(restarted.proc.output(), "does not match pin") {
			t.Fatalf("rotation %d: the restarted agent refused the new key:\n%s", round, restarted.proc.output())
		}
		t.Logf("rotation %d: %s restarted and reconnected with the new key %v after the rotation", round, restarted.name(), time.Since(t0).Round(time.Millisecond))
	}
	for _, ag := range []*agent{a, b} {
		if strings.Contains(ag.proc.output(), "network-map poll failed") {
			t.Errorf("%s lost the server during the rotations:\n%s", ag.name(), ag.proc.output())
		}
	}
	audit := run(t, f.server, "audit", "--data-dir", f.data, "--action", "tls.rotate", "--json")
	if c := strings.Count(audit, `"tls.rotate"`); c != 2 {
		t.Errorf("%d tls.rotate audit events, want 2", c)
	}
}

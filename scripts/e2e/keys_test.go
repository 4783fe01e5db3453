package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestKeyRotationUnderPing: an admin asks one machine, then the other,
// then the whole fleet to replace their WireGuard keys while a ping runs
// between them every 10 ms. Each agent swaps its key into the running
// tunnel, the peer follows through its map, and the packets lost are
// counted (issue 18's figure: at most one per rotation).
func TestKeyRotationUnderPing(t *testing.T) {
	f := newFleet(t, 3)
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(f.hosts[2], 2)
	eventually(t, 20*time.Second, "a reaches b", func() bool { return a.h.ping(b.ipv4()) })
	key := func(ag *agent) string {
		var ms []wire.Machine
		json.Unmarshal([]byte(run(t, f.server, "machines", "show", ag.name(), "--data-dir", f.data, "--json")), &ms)
		if len(ms) != 1 {
			t.Fatalf("machines show %s: %d machines", ag.name(), len(ms))
		}
		return ms[0].PublicKey
	}
	// The peer's device names the key (lazy peers are configured while
	// the ping runs).
	peerHas := func(on *agent, k string) bool {
		out, _ := on.h.cmd("wg", "show", on.iface, "peers").CombinedOutput()
		return strings.Contains(string(out), k)
	}
	const n = 1000 // 10 s at 10 ms
	pinger := startProc(t, a.h.cmd("ping", "-D", "-n", "-i", "0.01", "-c", strconv.Itoa(n), "-W", "1", b.ipv4()))
	time.Sleep(time.Second)
	rotate := func(target *agent, args ...string) {
		before := key(target)
		t0 := time.Now()
		run(t, f.server, append([]string{"machines", "rotate-key", "--data-dir", f.data}, args...)...)
		took := eventually(t, 10*time.Second, target.name()+"'s new key registered", func() bool { return key(target) != before })
		other := a
		if target == a {
			other = b
		}
		took2 := eventually(t, 10*time.Second, "the peer configured with "+target.name()+"'s new key", func() bool { return peerHas(other, key(target)) })
		t.Logf("%s rotated: new key registered %v and in the peer's device %v after `rotate-key` returned (%v after it started)",
			target.name(), took.Round(time.Millisecond), (took + took2).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	}
	rotate(a, a.name())
	time.Sleep(2 * time.Second)
	rotate(b, b.name())
	time.Sleep(2 * time.Second)
	ka, kb := key(a), key(b)
	rotate(a, "--all")
	eventually(t, 10*time.Second, "b rotated by --all", func() bool { return key(b) != kb })
	if key(a) == ka {
		t.Error("--all did not rotate a")
	}
	pinger.cmd.Wait()
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(pinger.output())
	if m == nil {
		t.Fatalf("ping output:\n%s", pinger.output())
	}
	sent, got := atoi(m[1]), atoi(m[2])
	t.Logf("4 rotations (a, b, then both at once) under a 10 ms ping: %d of %d lost; gaps (icmp_seq): %s", sent-got, sent, gaps(pinger.output(), sent))
	if sent-got > 50 {
		// Without the peer's handshake on a rekeyed peer, the rotating
		// side's refused initiation cost ~1.4 s (140 packets) until
		// WireGuard's retry or the next rotation; a broken rotation loses
		// every packet after it.
		t.Errorf("%d of %d pings lost across the rotations:\n%s", sent-got, sent, pinger.output())
	}
	for _, ag := range []*agent{a, b} {
		if c := strings.Count(ag.proc.output(), "WireGuard key rotated"); c != 2 {
			t.Errorf("%s logged %d rotations, want 2:\n%s", ag.name(), c, ag.proc.output())
		}
		if c := strings.Count(ag.proc.output(), "tunnel up"); c != 1 {
			t.Errorf("%s's tunnel came up %d times; a rotation must not restart it", ag.name(), c)
		}
	}
	audit := run(t, f.server, "audit", "--data-dir", f.data, "--action", "machine.rekey", "--json")
	if c := strings.Count(audit, `"machine.rekey"`); c != 4 {
		t.Errorf("%d machine.rekey audit events, want 4:\n%s", c, audit)
	}
	// Each key rotation replaced the machine credential too: the new ones
	// were used (which retires the old ones) and reports keep arriving.
	eventually(t, 10*time.Second, "4 credential rotations audited", func() bool {
		return strings.Count(run(t, f.server, "audit", "--data-dir", f.data, "--action", "machine.credential_rotate", "--json"), `"machine.credential_rotate"`) == 4
	})
	rotated := time.Now()
	for _, ag := range []*agent{a, b} {
		eventually(t, 10*time.Second, ag.name()+" reports health with its new credential", func() bool {
			var h wire.MachineHealth
			json.Unmarshal([]byte(run(t, f.server, "machines", "health", ag.name(), "--data-dir", f.data, "--json", "--limit", "1")), &h)
			return h.ReceivedAt != nil && h.ReceivedAt.After(rotated)
		})
		if c := strings.Count(ag.proc.output(), "machine credential rotated"); c != 2 {
			t.Errorf("%s logged %d credential rotations, want 2", ag.name(), c)
		}
	}
	st := a.h.run(t, bins+"/wirefleet-agent", "status", "--state-dir", a.dir)
	if !regexp.MustCompile(`wireguard key:\s+`+regexp.QuoteMeta(key(a))+`, `).MatchString(st) || !strings.Contains(st, "rotates every 90d") || strings.Contains(st, "rotation pending") {
		t.Errorf("a's status does not show its new key, current and rotating every 90 days:\n%s", st)
	}
	// And after all that, both ways still work.
	if !a.h.ping(b.ipv4()) || !b.h.ping(a.ipv4()) {
		t.Fatal("the machines lost each other after the rotations")
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// gaps lists the runs of ping sequence numbers that got no reply.
func gaps(out string, sent int) string {
	have := map[int]bool{}
	for _, m := range regexp.MustCompile(`icmp_seq=(\d+)`).FindAllStringSubmatch(out, -1) {
		have[atoi(m[1])] = true
	}
	var runs []string
	for i := 1; i <= sent; i++ {
		if have[i] {
			continue
		}
		j := i
		for j+1 <= sent && !have[j+1] {
			j++
		}
		runs = append(runs, fmt.Sprintf("%d–%d", i, j))
		i = j
	}
	return strings.Join(runs, " ")
}

// TestRotationSurvivesACrashAtEveryStep stops the agent, as a power cut
// would, at each step of a key and credential rotation (WIREFLEET_TEST_CRASH_AT
// makes it exit there) and starts it again: every time it finishes the
// rotation, its tunnel works with the key the server has, and its
// credential is accepted — no step can lock a machine out.
func TestRotationSurvivesACrashAtEveryStep(t *testing.T) {
	f := newFleet(t, 3)
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(f.hosts[2], 2)
	eventually(t, 20*time.Second, "a reaches b", func() bool { return a.h.ping(b.ipv4()) })
	server := func() wire.Machine {
		var ms []wire.Machine
		json.Unmarshal([]byte(run(t, f.server, "machines", "show", a.name(), "--data-dir", f.data, "--json")), &ms)
		if len(ms) != 1 {
			t.Fatalf("machines show: %d machines", len(ms))
		}
		return ms[0]
	}
	var status struct {
		Key *struct {
			PublicKey string `json:"public_key"`
			Pending   string `json:"pending"`
		} `json:"key"`
	}
	for _, step := range []string{"key-aside", "key-registered", "key-swapped", "credential-issued", "credential-stored"} {
		a.proc.cmd.Process.Signal(syscall.SIGTERM)
		a.proc.cmd.Wait()
		cmd := a.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s")
		cmd.Env = append(os.Environ(), "WIREFLEET_TEST_CRASH_AT="+step)
		a.proc = startProc(t, cmd)
		eventually(t, 15*time.Second, a.iface+" up before the crash", func() bool { return a.h.ping(b.ipv4()) })
		before := server().PublicKey
		run(t, f.server, "machines", "rotate-key", a.name(), "--data-dir", f.data)
		done := make(chan error, 1)
		go func() { done <- a.proc.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the agent did not stop at the crash point:\n%s", step, a.proc.output())
		}
		if !strings.Contains(a.proc.output(), "WIREFLEET_TEST_CRASH_AT="+step) {
			t.Fatalf("%s: the agent stopped elsewhere:\n%s", step, a.proc.output())
		}
		t0 := time.Now()
		a.start(t)
		took := eventually(t, 20*time.Second, step+": the rotation finished and the tunnel works", func() bool {
			status.Key = nil // omitempty fields must not keep an earlier answer's values
			json.Unmarshal([]byte(a.h.run(t, bins+"/wirefleet-agent", "status", "--json", "--state-dir", a.dir)), &status)
			m := server()
			ok := status.Key != nil && status.Key.Pending == "" && status.Key.PublicKey == m.PublicKey && m.PublicKey != before &&
				m.RotateKeyBefore == nil
			pa, pb := ok && a.h.ping(b.ipv4()), ok && b.h.ping(a.ipv4())
			if !ok || !pa || !pb {
				t.Logf("%s: not yet: status %+v, server key %s (before %s), request %v, a→b %v, b→a %v", step, status.Key, m.PublicKey, before, m.RotateKeyBefore, pa, pb)
			}
			return ok && pa && pb
		})
		eventually(t, 10*time.Second, step+": health arrives with the machine's credential", func() bool {
			var h wire.MachineHealth
			json.Unmarshal([]byte(run(t, f.server, "machines", "health", a.name(), "--data-dir", f.data, "--json", "--limit", "1")), &h)
			return h.ReceivedAt != nil && h.ReceivedAt.After(t0)
		})
		t.Logf("crash at %s: rotation finished, tunnel and credential working %v after the restart", step, took.Round(time.Millisecond))
	}
	audit := run(t, f.server, "audit", "--data-dir", f.data, "--action", "machine.credential_rotate", "--json")
	// A stop right after the new credential was stored (before the agent
	// recorded it) makes the next start replace it once more: 5 or 6.
	if c := strings.Count(audit, `"machine.credential_rotate"`); c < 5 || c > 6 {
		t.Errorf("%d credential rotations audited after 5 interrupted rotations, want 5 or 6", c)
	}
}

// TestExpiredMachineLeavesAndComesBack: a machine past its expiry drops out
// of its peer's WireGuard device (the server's expirer, with the agent's
// poll held), keeps its secrets, and `wirefleet-agent login --token` brings
// it back under the same name and addresses.
func TestExpiredMachineLeavesAndComesBack(t *testing.T) {
	f := newFleet(t, 3)
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(f.hosts[2], 2)
	eventually(t, 20*time.Second, "a reaches b", func() bool { return a.h.ping(b.ipv4()) })
	inB := func() bool {
		out, _ := b.h.cmd(bins+"/wirefleet-agent", "status", "--json", "--state-dir", b.dir).CombinedOutput()
		return strings.Contains(string(out), `"name":"`+a.name()+`"`) || strings.Contains(string(out), `"name": "`+a.name()+`"`)
	}
	if !inB() {
		t.Fatalf("b's status does not list a before the expiry")
	}
	run(t, f.server, "machines", "expiry", a.name(), "2s", "--data-dir", f.data)
	took := eventually(t, 20*time.Second, "a gone from b's peers", func() bool { return !inB() })
	t.Logf("a expired 2 s after `machines expiry`; gone from b's peers %v after the command", took.Round(time.Millisecond))
	if a.h.ping(b.ipv4()) {
		t.Error("a still reaches b after it expired")
	}
	eventually(t, 10*time.Second, "a's status names the expiry", func() bool {
		return strings.Contains(a.h.run(t, bins+"/wirefleet-agent", "status", "--state-dir", a.dir), "machine_expired")
	})
	if !strings.Contains(a.proc.output(), "wirefleet-agent login --token") || strings.Contains(a.proc.output(), "wiping its secrets") {
		t.Fatalf("a's log should ask for a login and keep its secrets:\n%s", a.proc.output())
	}
	var ms []wire.Machine
	json.Unmarshal([]byte(run(t, f.server, "machines", "show", a.name(), "--data-dir", f.data, "--json")), &ms)
	if len(ms) != 1 || ms[0].State != wire.MachineExpired {
		t.Fatalf("a on the server: %+v", ms)
	}

	out := a.h.run(t, bins+"/wirefleet-agent", "login", "--token", f.token(), "--state-dir", a.dir)
	if !strings.Contains(out, "re-authenticated "+a.name()+" ("+a.ipv4()) {
		t.Fatalf("login: %s", out)
	}
	took = eventually(t, 15*time.Second, "a reaches b again", func() bool { return a.h.ping(b.ipv4()) && b.h.ping(a.ipv4()) })
	t.Logf("after `login`: a reaches b again %v later, as %s %s", took.Round(time.Millisecond), a.name(), a.ipv4())
	if !strings.Contains(a.proc.output(), "re-authenticated: back in the fleet") {
		t.Errorf("a's log does not say it is back:\n%s", a.proc.output())
	}
	audit := run(t, f.server, "audit", "--data-dir", f.data, "--target", ms[0].ID, "--json")
	for _, want := range []string{"machine.expire", "machine.reauth"} {
		if !strings.Contains(audit, `"`+want+`"`) {
			t.Errorf("audit lacks %s", want)
		}
	}
}

// TestInteractiveEnrollment: `wirefleet-agent enroll --server` without a
// token prints a link and waits; an admin approves the code
// (`wirefleet-server enrollments approve`); the command finishes, the
// agent runs and reaches a peer, and the machine records who approved it.
func TestInteractiveEnrollment(t *testing.T) {
	f := newFleet(t, 3)
	b := f.enroll(f.hosts[2], 2)
	a := &agent{h: f.hosts[1], dir: t.TempDir(), iface: "wf1"}
	en := startProc(t, a.h.cmd(bins+"/wirefleet-agent", "enroll", "--server", f.serverURL, "--pin", f.pin, "--state-dir", a.dir, "--name", "owned-1"))
	var code string
	eventually(t, 15*time.Second, "the enroll command prints its link", func() bool {
		m := regexp.MustCompile(`approve code ([A-Z0-9]{4}-[A-Z0-9]{4})`).FindStringSubmatch(en.output())
		if m != nil {
			code = m[1]
		}
		return m != nil && strings.Contains(en.output(), f.serverURL+"/e/"+code)
	})
	if list := run(t, f.server, "enrollments", "list", "--data-dir", f.data); !strings.Contains(list, code) || !strings.Contains(list, "pending") {
		t.Fatalf("enrollments list:\n%s", list)
	}
	t0 := time.Now()
	run(t, f.server, "enrollments", "approve", code, "--data-dir", f.data)
	done := make(chan error, 1)
	go func() { done <- en.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(en.output(), "enrolled as owned-1") {
			t.Fatalf("enroll: %v\n%s", err, en.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("enroll did not finish after the approval:\n%s", en.output())
	}
	t.Logf("enroll finished %v after the approval", time.Since(t0).Round(time.Millisecond))
	b2, _ := os.ReadFile(filepath.Join(a.dir, "config.json"))
	json.Unmarshal(b2, &a.cfg)
	a.start(t)
	eventually(t, 20*time.Second, "the new machine reaches its peer", func() bool { return a.h.ping(b.ipv4()) })
	var ms []wire.Machine
	json.Unmarshal([]byte(run(t, f.server, "machines", "show", "owned-1", "--data-dir", f.data, "--json")), &ms)
	if len(ms) != 1 || ms[0].Owner != "local:cli" {
		t.Fatalf("the machine's owner: %+v", ms)
	}
}

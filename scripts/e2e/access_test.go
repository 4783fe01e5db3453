package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

const accessPolicy = `{
  // Laptops reach the web server's port 8080 and may ping it;
  // the web server reaches the database.
  "tags": ["tag:laptop", "tag:web", "tag:db"],
  "rules": [
    {"src": ["tag:laptop"], "dst": ["tag:web"], "proto": "tcp", "ports": ["8080"]},
    {"src": ["tag:laptop"], "dst": ["tag:web"], "proto": "icmp"},
    {"src": ["tag:web"], "dst": ["tag:db"], "proto": "tcp", "ports": ["5432"]},
  ],
  "tests": [
    {"src": "tag:laptop", "accept": ["tag:web:8080", "tag:web:icmp"], "deny": ["tag:web:8081", "tag:db:5432"]},
  ],
}
`

// TestAccessPolicyInNamespaces: three tagged agents in network namespaces
// under a policy. An allowed TCP port connects (nc), a denied one times
// out, ping follows the rules, a machine outside the policy is absent from
// `wg show`; a live policy change opens and then closes access without
// restarting the tunnel or losing a ping; a bad policy is refused and the
// old one stays.
func TestAccessPolicyInNamespaces(t *testing.T) {
	f := newFleet(t, 4)
	laptop := f.enroll(f.hosts[1], 1, "laptop")
	web := f.enroll(f.hosts[2], 2, "web")
	db := f.enroll(f.hosts[3], 3, "db")
	keys := map[string]string{}
	var ms []wire.Machine
	json.Unmarshal([]byte(run(t, f.server, "machines", "list", "--data-dir", f.data, "--json")), &ms)
	for _, m := range ms {
		keys[m.Name] = m.PublicKey
	}
	for _, l := range []struct {
		a    *agent
		port string
	}{{web, "8080"}, {web, "8081"}, {db, "5432"}} {
		startProc(t, l.a.h.cmd("nc", "-lk", l.port))
	}
	connects := func(from, to *agent, port string) bool {
		return from.h.cmd("nc", "-z", "-w", "2", to.ipv4(), port).Run() == nil
	}
	peersOf := func(a *agent) string { return a.h.run(t, "wg", "show", a.iface, "peers") }
	eventually(t, 20*time.Second, "full mesh before any policy", func() bool {
		return connects(laptop, db, "5432") && connects(laptop, web, "8081") && laptop.h.ping(db.ipv4())
	})

	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}
	t0 := time.Now()
	out := run(t, f.server, "policy", "set", write("v1.hujson", accessPolicy), "--data-dir", f.data)
	if !strings.Contains(out, "policy version 1 in force") {
		t.Fatalf("policy set:\n%s", out)
	}
	took := eventually(t, 10*time.Second, "db leaves the laptop's WireGuard peers", func() bool {
		p := peersOf(laptop)
		return !strings.Contains(p, keys[db.name()]) && strings.Contains(p, keys[web.name()])
	})
	t.Logf("policy v1: db gone from the laptop's `wg show` %v after `policy set` returned (%v after it started)", took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if !connects(laptop, web, "8080") {
		t.Error("laptop → web:8080 (allowed) does not connect")
	}
	t1 := time.Now()
	if connects(laptop, web, "8081") {
		t.Error("laptop → web:8081 (not allowed) connects")
	} else if time.Since(t1) < time.Second {
		t.Errorf("laptop → web:8081 was refused at once (%v); the filter drops, so it should time out", time.Since(t1))
	}
	if !laptop.h.ping(web.ipv4()) {
		t.Error("laptop cannot ping web (an icmp rule allows it)")
	}
	if laptop.h.ping(db.ipv4()) || connects(laptop, db, "5432") {
		t.Error("laptop reaches db, which no rule allows")
	}
	if !connects(web, db, "5432") {
		t.Error("web → db:5432 (allowed) does not connect")
	}
	if connects(db, web, "8080") || db.h.ping(web.ipv4()) {
		t.Error("db reaches web: the rule goes the other way")
	}
	st := web.h.run(t, bins+"/wirefleet-agent", "status", "--state-dir", web.dir)
	for _, want := range []string{"policy v1, 2 inbound rule(s)", "from tag:laptop: tcp ports 8080", "from tag:laptop: icmp", "last drop:"} {
		if !strings.Contains(st, want) {
			t.Errorf("web's status lacks %q:\n%s", want, st)
		}
	}

	// Live change: laptops may now reach the database — while a ping
	// from the laptop to web runs, which must lose nothing.
	pinger := startProc(t, laptop.h.cmd("ping", "-i", "0.1", "-c", "60", web.ipv4()))
	time.Sleep(time.Second)
	v2 := strings.Replace(accessPolicy, `"rules": [`, `"rules": [
    {"src": ["tag:laptop"], "dst": ["tag:db"], "proto": "tcp", "ports": ["5432"]},`, 1)
	v2 = strings.Replace(v2, `"deny": ["tag:web:8081", "tag:db:5432"]`, `"deny": ["tag:web:8081"]`, 1)
	t0 = time.Now()
	run(t, f.server, "policy", "set", write("v2.hujson", v2), "--data-dir", f.data)
	took = eventually(t, 10*time.Second, "laptop → db:5432 opens", func() bool { return connects(laptop, db, "5432") })
	t.Logf("policy v2: laptop → db:5432 connects %v after `policy set` returned (%v after it started)", took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	run(t, f.server, "policy", "set", write("v3.hujson", accessPolicy), "--data-dir", f.data)
	took = eventually(t, 10*time.Second, "db leaves the laptop's peers again", func() bool { return !strings.Contains(peersOf(laptop), keys[db.name()]) })
	t.Logf("policy v3: db gone from the laptop's `wg show` %v after `policy set` returned", took.Round(time.Millisecond))
	if connects(laptop, db, "5432") {
		t.Error("laptop → db:5432 still connects under v3")
	}
	pinger.cmd.Wait()
	if o := pinger.output(); !strings.Contains(o, "60 received") {
		t.Errorf("pings lost across the policy changes:\n%s", o)
	}
	for _, a := range []*agent{laptop, web, db} {
		if n := strings.Count(a.proc.output(), "tunnel up"); n != 1 {
			t.Errorf("%s's tunnel came up %d times; policy changes must not restart it", a.name(), n)
		}
	}

	// A bad policy is refused; v3 stays in force.
	bad := write("bad.hujson", strings.Replace(accessPolicy, `"ports": ["8080"]`, `"ports": ["80800"]`, 1))
	if out, err := f.hosts[0].cmd(f.server, "policy", "set", bad, "--data-dir", f.data).CombinedOutput(); err == nil || !strings.Contains(string(out), `port "80800"`) {
		t.Fatalf("bad policy: %v\n%s", err, out)
	}
	if !connects(laptop, web, "8080") || connects(laptop, db, "5432") {
		t.Error("the refused policy changed access")
	}
	if out := run(t, f.server, "policy", "get", "--data-dir", f.data, "--json"); !strings.Contains(out, `"version": 3`) {
		t.Errorf("policy after the refused one:\n%s", out)
	}
}

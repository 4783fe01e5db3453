package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsHelper is the namespaces' own resolver (the "ISP's"), when the test
// binary runs as it: it answers other.example with 192.0.2.10 and every
// other name with NXDOMAIN.
func dnsHelper() bool {
	addr := os.Getenv("WF_E2E_UPSTREAM_DNS")
	if addr == "" {
		return false
	}
	dns.HandleFunc(".", func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if q := r.Question[0]; strings.EqualFold(q.Name, "other.example.") && q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.10")})
		} else if !strings.EqualFold(q.Name, "other.example.") {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{Addr: addr, Net: "udp", NotifyStartedFunc: func() { fmt.Println("upstream dns listening") }}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Println("upstream dns:", err)
		os.Exit(1)
	}
	return true
}

// TestNamesInNamespaces: agents answer NAME.fleet.internal through the
// namespaces' ordinary resolver (getent, ping), other names still reach
// the original resolver, a rename and a revocation take effect within a
// second, and after `down`, after a stop, and after kill -9 and a restart
// the namespace's resolv.conf is exactly as it was.
func TestNamesInNamespaces(t *testing.T) {
	f := newFleet(t, 4)
	exe, _ := os.Executable()
	up := f.hosts[0].cmd(exe)
	up.Env = append(os.Environ(), "WF_E2E_UPSTREAM_DNS=10.77.0.1:53")
	upstream := startProc(t, up)
	eventually(t, 10*time.Second, "upstream resolver", func() bool { return strings.Contains(upstream.output(), "listening") })

	h := f.hosts[1]
	conf := filepath.Join("/etc/netns", h.ns, "resolv.conf")
	before, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	resolves := func(name string) string {
		out, err := h.cmd("getent", "ahostsv4", name).Output()
		if err != nil {
			return ""
		}
		return strings.Fields(string(out))[0]
	}
	if got := resolves("other.example"); got != "192.0.2.10" {
		t.Fatalf("before any agent, other.example resolves to %q", got)
	}

	a := f.enroll(h, 1)
	b := f.enroll(f.hosts[2], 2)
	c := f.enroll(f.hosts[3], 3)
	bName := b.name() + ".fleet.internal"
	took := eventually(t, 10*time.Second, bName+" resolves in "+h.ns, func() bool { return resolves(bName) == b.ipv4() })
	t.Logf("%s → %s through getent %v after the agents were up", bName, b.ipv4(), took.Round(time.Millisecond))
	if got := resolves(strings.ToUpper(bName)); got != b.ipv4() {
		t.Errorf("upper case: %q", got)
	}
	if got := resolves(a.name() + ".fleet.internal"); got != a.ipv4() {
		t.Errorf("its own name: %q", got)
	}
	if got := resolves("other.example"); got != "192.0.2.10" {
		t.Errorf("with the agent, other.example resolves to %q: other names must still reach the original resolver", got)
	}
	if got := resolves("nobody.fleet.internal"); got != "" {
		t.Errorf("nobody.fleet.internal resolves to %q", got)
	}
	if out, err := h.cmd("getent", "hosts", b.ipv4()).Output(); err != nil || !strings.Contains(string(out), bName) {
		t.Errorf("reverse lookup of %s: %q %v", b.ipv4(), out, err)
	}
	if out, err := h.cmd("ping", "-c", "1", "-W", "2", bName).CombinedOutput(); err != nil {
		t.Errorf("ping %s: %v\n%s", bName, err, out)
	}
	out := h.run(t, bins+"/wirefleet-agent", "dns", "query", b.name(), "--state-dir", a.dir)
	if !strings.Contains(out, "NOERROR") || !strings.Contains(out, b.ipv4()) {
		t.Errorf("dns query:\n%s", out)
	}
	st := h.run(t, bins+"/wirefleet-agent", "status", "--state-dir", a.dir)
	if !strings.Contains(st, "dns:") || !strings.Contains(st, "fleet.internal: 3 names at "+a.ipv4()+":53, system resolver: resolv.conf") {
		t.Errorf("status:\n%s", st)
	}

	// A rename answers under the new name, the old one is gone.
	t0 := time.Now()
	run(t, f.server, "machines", "rename", b.name(), "renamed-b", "--data-dir", f.data)
	took = eventually(t, 5*time.Second, "the new name", func() bool { return resolves("renamed-b.fleet.internal") == b.ipv4() })
	t.Logf("rename: the new name resolved %v after `machines rename` returned (%v after it started)", took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if got := resolves(bName); got != "" {
		t.Errorf("the old name still resolves to %s", got)
	}
	// The admin's records: an address outside the fleet and a CNAME to a
	// machine, answered from the next map.
	t0 = time.Now()
	run(t, f.server, "dns", "add", "files", "A", "192.0.2.77", "--data-dir", f.data)
	took = eventually(t, 5*time.Second, "the admin's A record", func() bool { return resolves("files.fleet.internal") == "192.0.2.77" })
	t.Logf("record: files.fleet.internal resolved %v after `dns add` returned (%v after it started)", took.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	run(t, f.server, "dns", "add", "api.prod", "CNAME", "renamed-b.fleet.internal", "--data-dir", f.data)
	eventually(t, 5*time.Second, "the CNAME", func() bool { return resolves("api.prod.fleet.internal") == b.ipv4() })
	run(t, f.server, "dns", "remove", "files", "--data-dir", f.data)
	eventually(t, 5*time.Second, "the removed record gone", func() bool { return resolves("files.fleet.internal") == "" })
	if out := run(t, f.server, "dns", "list", "--data-dir", f.data); !strings.Contains(out, "api.prod.fleet.internal  CNAME  renamed-b.fleet.internal") {
		t.Errorf("dns list:\n%s", out)
	}

	// A revoked machine's name stops resolving.
	run(t, f.server, "machines", "revoke", c.name(), "--data-dir", f.data)
	took = eventually(t, 5*time.Second, "the revoked machine's name gone", func() bool { return resolves(c.name()+".fleet.internal") == "" })
	t.Logf("revocation: %s stopped resolving %v after `machines revoke` returned", c.name(), took.Round(time.Millisecond))

	// Under an access policy only the machines this one may see have names.
	pol := filepath.Join(t.TempDir(), "deny.hujson")
	os.WriteFile(pol, []byte(`{"rules": []} // nobody reaches anybody`), 0o644)
	run(t, f.server, "policy", "set", pol, "--data-dir", f.data)
	eventually(t, 5*time.Second, "an invisible machine's name gone", func() bool { return resolves("renamed-b.fleet.internal") == "" })
	if got := resolves(a.name() + ".fleet.internal"); got != a.ipv4() {
		t.Errorf("under the policy its own name resolves to %q", got)
	}
	run(t, f.server, "policy", "clear", "--data-dir", f.data)
	eventually(t, 5*time.Second, "the name back without the policy", func() bool { return resolves("renamed-b.fleet.internal") == b.ipv4() })

	same := func(when string) {
		t.Helper()
		now, _ := os.ReadFile(conf)
		if string(now) != string(before) {
			t.Errorf("%s: resolv.conf is\n%s\nwas\n%s", when, now, before)
		}
	}
	changed := func() bool { now, _ := os.ReadFile(conf); return string(now) != string(before) }
	if !changed() {
		t.Fatal("the agent did not configure resolv.conf")
	}
	h.run(t, bins+"/wirefleet-agent", "down", "--state-dir", a.dir)
	same("after down")
	if got := resolves("other.example"); got != "192.0.2.10" {
		t.Errorf("after down, other.example: %q", got)
	}
	h.run(t, bins+"/wirefleet-agent", "up", "--state-dir", a.dir)
	eventually(t, 10*time.Second, "names back after up", func() bool { return resolves("renamed-b.fleet.internal") == b.ipv4() })

	// kill -9 leaves the block; the next start cleans it and puts it back;
	// a stop restores the file exactly.
	a.proc.cmd.Process.Signal(syscall.SIGKILL)
	a.proc.cmd.Wait()
	if !changed() {
		t.Fatal("after kill -9 the block is gone: nothing to clean up")
	}
	a.start(t)
	eventually(t, 15*time.Second, "names back after the restart", func() bool { return resolves("renamed-b.fleet.internal") == b.ipv4() })
	if n := strings.Count(mustRead(t, conf), "BEGIN wirefleet-agent"); n != 1 {
		t.Errorf("after kill -9 and a restart the block is there %d times:\n%s", n, mustRead(t, conf))
	}
	a.proc.cmd.Process.Signal(syscall.SIGTERM)
	a.proc.cmd.Wait()
	same("after the agent stopped")

	// logout restores it too (the running agent does it before wiping).
	a.start(t)
	eventually(t, 15*time.Second, "names back", func() bool { return resolves("renamed-b.fleet.internal") == b.ipv4() })
	h.run(t, bins+"/wirefleet-agent", "logout", "--state-dir", a.dir)
	same("after logout")

	// --accept-dns=false: the tunnel comes up, the namespace's resolver
	// configuration is never touched.
	bConf := filepath.Join("/etc/netns", b.h.ns, "resolv.conf")
	b.proc.cmd.Process.Signal(syscall.SIGTERM)
	b.proc.cmd.Wait()
	bBefore := mustRead(t, bConf)
	b.proc = startProc(t, b.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", b.dir, "--interface", b.iface, "--accept-dns=false"))
	eventually(t, 15*time.Second, b.iface+" up without names", func() bool { return b.h.cmd("ip", "link", "show", b.iface).Run() == nil })
	time.Sleep(time.Second)
	if got := mustRead(t, bConf); got != bBefore {
		t.Errorf("--accept-dns=false changed resolv.conf:\n%s", got)
	}
	if st := b.h.run(t, bins+"/wirefleet-agent", "status", "--state-dir", b.dir); strings.Contains(st, "dns:") {
		t.Errorf("--accept-dns=false: status shows a dns line:\n%s", st)
	}
}

func mustRead(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

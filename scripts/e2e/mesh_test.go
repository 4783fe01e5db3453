package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// meshRig is two replicas on one PostgreSQL, their relays joined by a
// shared key, behind one address: an L4 balancer in each agent's
// namespace (nftables DNAT of the server address to the replica chosen
// for that agent), and two agents behind symmetric NAT pinned to
// different replicas, so that every packet between them crosses both.
type meshRig struct {
	in           *internet
	repA, repB   host
	dataA, dataB string
	db, key      string
	a, b         *proc
	f            *fleet
	c, d         *agent // c behind site 1 on replica A, d behind site 2 on B
}

const meshVIP = "203.0.113.100"

func newMeshRig(t testing.TB) *meshRig {
	dsn := os.Getenv("WIREFLEET_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("needs PostgreSQL: WIREFLEET_TEST_POSTGRES (make test starts one with scripts/postgres.sh)")
	}
	requireNetns(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft for NAT and the balancer (.ci/run installs nftables)")
	}
	r := &meshRig{db: freshDatabase(t, dsn), dataA: t.TempDir(), dataB: t.TempDir()}
	r.in, r.repA = newInternet(t)
	r.repB = r.in.attach("srv2", "203.0.113.2")
	s1 := r.in.addSite("203.0.113.13", "masquerade random", 1)
	s2 := r.in.addSite("203.0.113.14", "masquerade random", 1)
	r.key = filepath.Join(t.TempDir(), "mesh.key")
	if err := os.WriteFile(r.key, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.a = r.start(t, r.repA, r.dataA)
	pin := serverPin(t, r.a)
	r.b = r.start(t, r.repB, r.dataB)
	eventually(t, 15*time.Second, "the replicas linked", func() bool {
		return strings.Contains(r.a.output(), "linked to another replica") && strings.Contains(r.b.output(), "linked to another replica")
	})
	balance(t, s1.hosts[0], r.repA)
	balance(t, s2.hosts[0], r.repB)
	r.f = &fleet{t: t, data: r.dataA, server: bins + "/wirefleet-server", hosts: []host{r.repA}, serverURL: "https://" + meshVIP + ":8443", pin: pin, srv: r.a}
	r.c = r.f.enroll(s1.hosts[0], 1)
	r.d = r.f.enroll(s2.hosts[0], 2)
	return r
}

// start runs a replica in h; B serves A's certificate, as replicas behind
// one name do. A keeps its secrets plain so that B can be handed its key
// file as an operator's --tls-key (replicas behind one name would share an
// operator's certificate and key).
func (r *meshRig) start(t testing.TB, h host, data string) *proc {
	args := []string{"serve", "--data-dir", data, "--db", r.db, "--listen", ":8443", "--external-url", "https://" + meshVIP + ":8443",
		"--stun-listen", "off", "--relay-mesh-key-file", r.key, "--metrics-listen", "127.0.0.1:9464", "--long-poll", "20s"}
	if data == r.dataA {
		args = append(args, "--secrets", "plain")
	}
	if data == r.dataB {
		args = append(args, "--tls-cert", filepath.Join(r.dataA, "tls.crt"), "--tls-key", filepath.Join(r.dataA, "tls.key"))
	}
	p := startProc(t, h.cmd(bins+"/wirefleet-server", args...))
	eventually(t, 20*time.Second, h.ns+" listening", func() bool { return strings.Contains(p.output(), "listening") })
	return p
}

// balance sends h's new connections to the server address to replica to
// (established ones stay where they were made, as with an L4 balancer).
// The rule is replaced in one transaction: deleting the table first left
// a moment without NAT hooks, and the dying replica's FIN, not translated
// back, never reached its connections (the agent then noticed only at
// its next write, 5 s later).
func balance(t testing.TB, h, to host) {
	h.nft(t, `table ip lb {
	chain out { type nat hook output priority -100; }
}
flush chain ip lb out
add rule ip lb out ip daddr `+meshVIP+` tcp dport 8443 dnat to `+to.addr+`:8443
`)
}

// meshPackets reads a replica's wirefleet_relay_mesh_packets_total for
// direction (out or in).
func meshPackets(h host, direction string) float64 {
	out, _ := h.cmd("curl", "-s", "http://127.0.0.1:9464/metrics").Output()
	m := regexp.MustCompile(`(?m)^wirefleet_relay_mesh_packets_total\{direction="` + direction + `"\} (\S+)$`).FindSubmatch(out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// pingStats pings dst from h n times, interval apart, and returns the
// replies and the round-trip times' average in ms.
func pingStats(h host, dst string, n int, interval string) (int, float64) {
	out, _ := h.cmd("ping", "-n", "-q", "-c", strconv.Itoa(n), "-i", interval, "-W", "1", dst).CombinedOutput()
	got := 0
	if m := regexp.MustCompile(`(\d+) received`).FindSubmatch(out); m != nil {
		got, _ = strconv.Atoi(string(m[1]))
	}
	avg := -1.0
	if m := regexp.MustCompile(`= [\d.]+/([\d.]+)/`).FindSubmatch(out); m != nil {
		avg, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	return got, avg
}

// TestRelayAcrossReplicas: machines behind symmetric NAT whose relay
// sessions are on different replicas reach each other through the mesh
// (ping and TCP); when the replica holding one of them dies (kill -9),
// traffic resumes through the other within seconds (lost pings counted);
// a replica started anew rejoins the mesh, and a revocation made there
// cuts a machine whose session is on the other replica.
func TestRelayAcrossReplicas(t *testing.T) {
	r := newMeshRig(t)
	c, d := r.c, r.d
	eventually(t, 20*time.Second, "ping c → d across the replicas", func() bool { return c.h.ping(d.ipv4()) })
	if p, _ := c.pathTo(t, d); p != "relay" {
		t.Fatalf("path c → d %q, want relay", p)
	}
	tcpCheck(t, c, d)
	tcpCheck(t, d, c)
	if out, in := meshPackets(r.repA, "out"), meshPackets(r.repB, "in"); out < 10 || in < 10 {
		t.Fatalf("replica A sent %v packets to B, B received %v: the traffic did not cross the mesh", out, in)
	}
	got, rtt := pingStats(c.h, d.ipv4(), 20, "0.05")
	t.Logf("c → d across the replicas: %d/20 replies, %.3f ms average", got, rtt)

	// d's replica dies; the balancer sends new connections to A.
	received := pingsAround(t, c.h, d.ipv4(), 150, func() {
		r.b.cmd.Process.Signal(syscall.SIGKILL)
		balance(t, d.h, r.repA)
	})
	t.Logf("replica B killed: %d of 150 pings (0.1 s apart) lost: about %.1f s without traffic", 150-received, float64(150-received)/10)
	if received < 100 {
		t.Errorf("only %d of 150 pings answered around the failover", received)
	}
	if !c.h.ping(d.ipv4()) || !d.h.ping(c.ipv4()) {
		t.Fatal("no traffic between c and d after the failover")
	}

	// B comes back (a new replica to the mesh) and the balancer sends d
	// there again once d reconnects; a revocation made on B cuts c,
	// whose session is on A.
	r.b = r.start(t, r.repB, r.dataB)
	eventually(t, 15*time.Second, "B linked again", func() bool { return strings.Contains(r.b.output(), "linked to another replica") })
	var ms []wire.Machine
	json.Unmarshal([]byte(run(t, bins+"/wirefleet-server", "machines", "list", "--data-dir", r.dataB, "--json")), &ms)
	if len(ms) != 2 {
		t.Fatalf("B lists %d machines", len(ms))
	}
	pinger := startProc(t, d.h.cmd("ping", "-D", "-n", "-c", "100", "-i", "0.05", "-W", "1", c.ipv4()))
	time.Sleep(time.Second)
	t0 := time.Now()
	run(t, bins+"/wirefleet-server", "machines", "revoke", c.name(), "--data-dir", r.dataB)
	pinger.cmd.Wait()
	last := lastReply(pinger.output())
	if last.IsZero() || last.Before(t0.Add(-time.Second)) {
		t.Fatalf("no pings answered before the revocation:\n%s", pinger.output())
	}
	if last.After(t0.Add(3 * time.Second)) {
		t.Fatalf("c still answered %v after its revocation on B", last.Sub(t0))
	}
	t.Logf("revoked on replica B: c's relay session on A cut; its last answer %v after the revoke command started", last.Sub(t0).Round(10*time.Millisecond))
}

// pingsAround pings dst from h n times 0.1 s apart, does what 2 s in,
// and returns how many pings were answered.
func pingsAround(t testing.TB, h host, dst string, n int, what func()) int {
	t.Helper()
	pinger := startProc(t, h.cmd("ping", "-n", "-q", "-c", strconv.Itoa(n), "-i", "0.1", "-W", "1", dst))
	time.Sleep(2 * time.Second)
	what()
	pinger.cmd.Wait()
	m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(pinger.output())
	if m == nil {
		t.Fatalf("ping: %s", pinger.output())
	}
	received, _ := strconv.Atoi(m[1])
	return received
}

// lastReply is the time of the last reply in the output of ping -D.
func lastReply(out string) time.Time {
	var last time.Time
	for _, m := range regexp.MustCompile(`(?m)^\[(\d+)\.(\d+)\] \d+ bytes from`).FindAllStringSubmatch(out, -1) {
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		frac, _ := strconv.ParseFloat("0."+m[2], 64)
		last = time.Unix(sec, int64(frac*1e9))
	}
	return last
}

// BenchmarkRelayAcrossReplicas: TCP between two agents behind symmetric
// NAT through the relay, their sessions on different replicas (every
// packet crosses the mesh link), then on one replica (d reconnected to
// A), with both replicas' CPU per Gbit/s. Run it once (PostgreSQL as
// make test starts it; WIREFLEET_RELAY_RATE=1000000000 uncaps a sender):
//
//	WIREFLEET_TEST_POSTGRES=$(scripts/postgres.sh start) go test -run '^$' -bench RelayAcrossReplicas -benchtime 1x ./scripts/e2e/
func BenchmarkRelayAcrossReplicas(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	r := newMeshRig(b)
	c, d := r.c, r.d
	eventually(b, 20*time.Second, "ping c → d", func() bool { return c.h.ping(d.ipv4()) })
	iperfServer(b, d.h)
	const secs = 10
	measure := func(name string) {
		pa, pb := r.a.cmd.Process.Pid, r.b.cmd.Process.Pid
		a0, b0 := cpuTicks(b, pa), cpuTicks(b, pb)
		_, rtt := pingStats(c.h, d.ipv4(), 40, "0.05")
		gbps := iperf(b, c.h, d.ipv4(), secs)
		cores := float64(cpuTicks(b, pa)-a0+cpuTicks(b, pb)-b0) / 100 / secs
		b.ReportMetric(gbps, name+"-Gbit/s")
		b.ReportMetric(cores/gbps, name+"-server-cores-per-Gbit/s")
		b.ReportMetric(rtt, name+"-ping-ms")
		b.Logf("%s: %.2f Gbit/s, both replicas %.2f cores busy = %.2f cores per Gbit/s; ping %.3f ms average (idle)", name, gbps, cores, cores/gbps, rtt)
	}
	measure("across-replicas")
	// d reconnects through the balancer to A: both sessions on one replica.
	balance(b, d.h, r.repA)
	d.proc.stop()
	d.start(b)
	eventually(b, 20*time.Second, "d back, on A", func() bool { return connected(r.dataA) == 2 && c.h.ping(d.ipv4()) })
	measure("one-replica")
}

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// BenchmarkTunnel records the agent figures of docs/BENCHMARKS.md in real
// network namespaces: time from `enroll` to the first ping over the
// overlay, the idle agent's RSS and CPU, and TCP throughput through the
// tunnel versus the bare veth in the same run. Run it once:
//
//	go test -run '^$' -bench Tunnel -benchtime 1x ./scripts/e2e/
//
// WIREFLEET_IDLE sets the idle sampling window (default 60s).
func BenchmarkTunnel(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	f := newFleet(b, 3)
	a := f.enroll(f.hosts[1], 1)
	c := f.enroll(f.hosts[2], 2)
	toPing := eventually(b, 20*time.Second, "first ping", func() bool { return a.h.ping(c.ipv4()) })
	b.ReportMetric(float64(time.Since(c.enrolledAt).Milliseconds()), "enroll-to-ping-ms")
	b.Logf("enroll → first ping: %v (ping succeeded %v after the check started)", time.Since(c.enrolledAt).Round(time.Millisecond), toPing.Round(time.Millisecond))

	window := 60 * time.Second
	if v := os.Getenv("WIREFLEET_IDLE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			window = d
		}
	}
	pid := a.proc.cmd.Process.Pid
	cpu0 := cpuTicks(b, pid)
	time.Sleep(window)
	cpu1 := cpuTicks(b, pid)
	rss := rssKiB(b, pid)
	cpuPct := float64(cpu1-cpu0) / 100 / window.Seconds() * 100 // USER_HZ = 100
	b.ReportMetric(float64(rss)/1024, "idle-rss-MiB")
	b.ReportMetric(cpuPct, "idle-cpu-%")
	b.Logf("idle agent over %v: RSS %.1f MiB, CPU %.2f%% (health every 1 s in this run)", window, float64(rss)/1024, cpuPct)

	iperfServer(b, c.h)
	for _, target := range []struct{ name, addr string }{{"veth", c.h.addr}, {"tunnel", c.ipv4()}} {
		gbps := iperf(b, a.h, target.addr, 5)
		b.ReportMetric(gbps, target.name+"-Gbit/s")
		b.Logf("TCP over %s: %.2f Gbit/s", target.name, gbps)
	}
}

// BenchmarkRelay records the relay figures of docs/BENCHMARKS.md: TCP
// throughput between two agents behind symmetric NAT (so every packet
// crosses the server's relay), the server's CPU per Gbit/s relayed, and
// the agents' CPU. Run it once:
//
//	go test -run '^$' -bench Relay -benchtime 1x ./scripts/e2e/
//
// WIREFLEET_RELAY_RATE (bytes/s per machine, the server's --relay-rate)
// is passed on to the server; the default 50 MB/s caps one sender.
func BenchmarkRelay(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		b.Skip("needs nft (apt-get install nftables)")
	}
	in, srvHost := newInternet(b)
	s1 := in.addSite("203.0.113.13", "masquerade random", 1)
	s2 := in.addSite("203.0.113.14", "masquerade random", 1)
	f := in.fleet(srvHost)
	c, d := f.enroll(s1.hosts[0], 1), f.enroll(s2.hosts[0], 2)
	eventually(b, 20*time.Second, "ping c → d", func() bool { return c.h.ping(d.ipv4()) })
	if p, _ := c.pathTo(b, d); p != "relay" {
		b.Fatalf("path c → d %q, want relay", p)
	}
	iperfServer(b, d.h)
	const secs = 10
	srvPid, cPid, dPid := f.srv.cmd.Process.Pid, c.proc.cmd.Process.Pid, d.proc.cmd.Process.Pid
	s0, c0, d0 := cpuTicks(b, srvPid), cpuTicks(b, cPid), cpuTicks(b, dPid)
	bytes0 := relayBytes(b, srvHost)
	gbps := iperf(b, c.h, d.ipv4(), secs)
	relayed := relayBytes(b, srvHost) - bytes0
	s1t, c1, d1 := cpuTicks(b, srvPid), cpuTicks(b, cPid), cpuTicks(b, dPid)
	srvCPU := float64(s1t-s0) / 100 / secs // cores busy, USER_HZ = 100
	b.ReportMetric(gbps, "relay-Gbit/s")
	b.ReportMetric(srvCPU/gbps, "server-cores-per-Gbit/s")
	b.Logf("TCP through the relay: %.2f Gbit/s (%.0f MiB relayed); server %.2f cores busy = %.2f cores per Gbit/s; sender agent %.2f cores, receiver %.2f",
		gbps, relayed/(1<<20), srvCPU, srvCPU/gbps, float64(c1-c0)/100/secs, float64(d1-d0)/100/secs)
}

// iperfServer starts iperf3 -s in h and waits for it to listen.
func iperfServer(b testing.TB, h host) {
	startProc(b, h.cmd("iperf3", "-s"))
	eventually(b, 5*time.Second, "iperf3 server", func() bool {
		return strings.Contains(h.run(b, "ss", "-ltn"), ":5201")
	})
}

// iperf runs a TCP iperf3 client in h against addr for secs seconds and
// returns the received rate in Gbit/s.
func iperf(b testing.TB, h host, addr string, secs int) float64 {
	out := h.run(b, "iperf3", "-c", addr, "-t", strconv.Itoa(secs), "-J")
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		b.Fatalf("iperf3 output: %v\n%s", err, out)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9
}

// cpuTicks returns utime+stime of pid in clock ticks.
func cpuTicks(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + st
}

// rssKiB returns the resident set size of pid.
func rssKiB(b testing.TB, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkTunnelPolicy records the access filter's cost on the tunnel:
// TCP throughput between two agents with no policy, then with a 100-rule
// policy (the receiver's filter judges every packet), alternating three
// times. Run it once:
//
//	go test -run '^$' -bench TunnelPolicy -benchtime 1x ./scripts/e2e/
func BenchmarkTunnelPolicy(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	f := newFleet(b, 3)
	a := f.enroll(f.hosts[1], 1, "client")
	c := f.enroll(f.hosts[2], 2, "server")
	eventually(b, 20*time.Second, "first ping", func() bool { return a.h.ping(c.ipv4()) })
	var rules []string
	for i := range 99 {
		rules = append(rules, fmt.Sprintf(`{"src": ["100.65.%d.0/24"], "dst": ["tag:server"], "proto": "tcp", "ports": ["%d"]}`, i, 1000+i))
	}
	rules = append(rules, `{"src": ["tag:client"], "dst": ["tag:server"], "proto": "tcp", "ports": ["5201"]}`)
	policy := `{"tags": ["tag:client", "tag:server"], "rules": [` + strings.Join(rules, ",\n") + `]}`
	file := b.TempDir() + "/p.hujson"
	os.WriteFile(file, []byte(policy), 0o644)
	iperfServer(b, c.h)
	var none, with []float64
	for range 3 {
		run(b, f.server, "policy", "clear", "--data-dir", f.data)
		time.Sleep(time.Second)
		none = append(none, iperf(b, a.h, c.ipv4(), 5))
		run(b, f.server, "policy", "set", file, "--data-dir", f.data)
		time.Sleep(time.Second)
		with = append(with, iperf(b, a.h, c.ipv4(), 5))
	}
	st := c.h.run(b, bins+"/wirefleet-agent", "status", "--state-dir", c.dir)
	if !strings.Contains(st, "100 inbound rule(s)") {
		b.Fatalf("the receiver does not enforce the 100 rules:\n%s", st)
	}
	b.ReportMetric(mean(none), "no-policy-Gbit/s")
	b.ReportMetric(mean(with), "100-rules-Gbit/s")
	b.Logf("TCP through the tunnel, 3 × 5 s each, alternating: no policy %.2f Gbit/s %v; 100-rule policy %.2f Gbit/s %v (%+.1f%%)",
		mean(none), none, mean(with), with, (mean(with)/mean(none)-1)*100)
}

// BenchmarkSubnetRouter records the subnet-router figure of
// docs/BENCHMARKS.md: TCP throughput from a client to a host behind a
// subnet router (forwarded, source-NATed, through the router's filter)
// versus to the router itself, in the same run. Run it once:
//
//	go test -run '^$' -bench SubnetRouter -benchtime 1x ./scripts/e2e/
func BenchmarkSubnetRouter(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	f := newFleet(b, 3)
	l := newLAN(b)
	l.join(f.hosts[1], "10.20.0.1")
	router := f.enrollWith(f.hosts[1], 1, []string{"--advertise-routes", "10.20.0.0/24"})
	client := f.enroll(f.hosts[2], 2)
	eventually(b, 10*time.Second, "the route is advertised", func() bool { return len(f.routesList(b)) == 1 })
	run(b, f.server, "routes", "approve", router.name(), "--data-dir", f.data)
	eventually(b, 10*time.Second, "the LAN through the router", func() bool { return client.h.ping("10.20.0.5") })
	iperfServer(b, router.h)
	iperfServer(b, l.host)
	const secs = 5
	rPid := router.proc.cmd.Process.Pid
	for _, target := range []struct{ name, addr string }{{"to-router", router.ipv4()}, {"through-router", "10.20.0.5"}} {
		c0 := cpuTicks(b, rPid)
		gbps := iperf(b, client.h, target.addr, secs)
		cpu := float64(cpuTicks(b, rPid)-c0) / 100 / secs
		b.ReportMetric(gbps, target.name+"-Gbit/s")
		b.Logf("TCP %s: %.2f Gbit/s; the router's agent %.2f cores busy", target.name, gbps, cpu)
	}
}

// BenchmarkFlowLogs records the flow-log figure of docs/BENCHMARKS.md: TCP
// through the tunnel under the same policy with flow logs off and on
// (every flow counted each way, records every 10 s), alternating. Run it
// once:
//
//	go test -run '^$' -bench FlowLogs -benchtime 1x ./scripts/e2e/
func BenchmarkFlowLogs(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	f := newFleet(b, 3)
	a := f.enroll(f.hosts[1], 1, "client")
	c := f.enroll(f.hosts[2], 2, "server")
	eventually(b, 20*time.Second, "first ping", func() bool { return a.h.ping(c.ipv4()) })
	rule := `"rules": [{"src": ["tag:client"], "dst": ["tag:server"]}]`
	off := `{"tags": ["tag:client", "tag:server"], ` + rule + `}`
	on := `{"tags": ["tag:client", "tag:server"], "flowLogs": {"src": ["*"], "interval": "10s"}, ` + rule + `}`
	dir := b.TempDir()
	os.WriteFile(dir+"/off.hujson", []byte(off), 0o644)
	os.WriteFile(dir+"/on.hujson", []byte(on), 0o644)
	iperfServer(b, c.h)
	var without, with []float64
	for range 3 {
		run(b, f.server, "policy", "set", dir+"/off.hujson", "--data-dir", f.data)
		time.Sleep(12 * time.Second) // the logger notices within 10 s
		without = append(without, iperf(b, a.h, c.ipv4(), 5))
		run(b, f.server, "policy", "set", dir+"/on.hujson", "--data-dir", f.data)
		time.Sleep(12 * time.Second)
		with = append(with, iperf(b, a.h, c.ipv4(), 5))
	}
	var page wire.FlowsResponse
	json.Unmarshal([]byte(run(b, f.server, "flows", "--data-dir", f.data, "--port", "5201", "--json")), &page)
	if len(page.Records) == 0 {
		b.Fatal("no flow records for the iperf3 transfers: flow logs were not on")
	}
	b.ReportMetric(mean(without), "off-Gbit/s")
	b.ReportMetric(mean(with), "on-Gbit/s")
	b.Logf("TCP through the tunnel, 3 × 5 s each, alternating: flow logs off %.2f Gbit/s %v; on %.2f Gbit/s %v (%.3f×); %d records for port 5201",
		mean(without), without, mean(with), with, mean(with)/mean(without), len(page.Records))
}

// mean is the average of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

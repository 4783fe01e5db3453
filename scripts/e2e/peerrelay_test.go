package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

const relayPolicy = `{
  "tags": ["tag:relay"],
  "relays": ["tag:relay"],
  "flowLogs": {"src": ["*"], "interval": "10s"},
  "rules": [{"src": ["*"], "dst": ["*"]}],
}`

// relayFleet starts the server in srvHost under a policy naming tag:relay
// as relays, and enrolls the relay machine in relayHost (interface wf9,
// with args for its run).
func relayFleet(t testing.TB, in *internet, srvHost, relayHost host, args []string) (*fleet, *agent) {
	f := in.fleet(srvHost)
	pol := filepath.Join(t.TempDir(), "relays.hujson")
	if err := os.WriteFile(pol, []byte(relayPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, f.server, "policy", "set", pol, "--data-dir", f.data)
	return f, f.enrollWith(relayHost, 9, args, "relay")
}

// TestPeerRelayInNamespaces: a relay machine with a public address and
// two agents behind symmetric NATs (no direct path between them). Their
// packets go through the relay machine, not the server: the path says
// peer-relay, the server's relay counter stands still while megabytes
// cross, and what the relay machine sees on the wire (tcpdump) is
// WireGuard ciphertext, never the payload. When the relay machine dies,
// traffic falls back to the server's relay (lost pings counted).
func TestPeerRelayInNamespaces(t *testing.T) {
	requireNetns(t)
	for _, tool := range []string{"nft", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/run installs it: scripts/test-deps.sh)", tool)
		}
	}
	in, srvHost := newInternet(t)
	s1 := in.addSite("203.0.113.13", "masquerade random", 1)
	s2 := in.addSite("203.0.113.14", "masquerade random", 1)
	relayHost := in.attach("relay", "203.0.113.50")
	f, r := relayFleet(t, in, srvHost, relayHost, nil)
	c, d := f.enroll(s1.hosts[0], 1), f.enroll(s2.hosts[0], 2)

	eventually(t, 20*time.Second, "c → d on the peer relay", func() bool {
		c.h.ping(d.ipv4())
		p, _ := c.pathTo(t, d)
		return p == "peer-relay"
	})
	if p, _ := d.pathTo(t, c); p != "peer-relay" {
		t.Errorf("d → c: path %q, want peer-relay", p)
	}
	got, rtt := pingStats(c.h, d.ipv4(), 20, "0.05")
	t.Logf("c → d through the peer relay: %d/20 replies, %.3f ms average", got, rtt)
	// The server hears of it: c's health reports (every second here) say
	// peer-relay, and are accepted.
	eventually(t, 10*time.Second, "c's health report says peer-relay", func() bool {
		return reportedPath(f.data, c.name(), d.name()) == "peer-relay"
	})

	// A marker crosses the overlay while the relay machine captures its
	// wire: 2 MB through the relay, the server's relay idle.
	capture := filepath.Join(t.TempDir(), "relay.pcap")
	dump := startProc(t, relayHost.cmd("tcpdump", "-i", "eth0", "-U", "-w", capture, "udp"))
	time.Sleep(500 * time.Millisecond)
	before := relayBytes(t, srvHost)
	transfer(t, c, d, "yes WIREFLEET-PLAINTEXT-MARKER", "the peer relay")
	grew := relayBytes(t, srvHost) - before
	dump.cmd.Process.Signal(os.Interrupt)
	dump.cmd.Wait()
	t.Logf("2 MB through the peer relay: the server relayed %.0f bytes meanwhile", grew)
	if grew > 20000 {
		t.Errorf("the server relayed %.0f bytes while 2 MB crossed the peer relay", grew)
	}
	pcap, err := os.ReadFile(capture)
	if err != nil {
		t.Fatal(err)
	}
	if len(pcap) < 2000000 {
		t.Fatalf("the relay machine captured %d bytes: the traffic did not cross it", len(pcap))
	}
	if strings.Contains(string(pcap), "WIREFLEET-PLAINTEXT-MARKER") {
		t.Fatal("the relay machine saw the payload in the clear")
	}
	if st := r.status(t); st.Paths.PeerRelay == nil || st.Paths.PeerRelay.Forwarded < 1000 {
		t.Fatalf("relay status: %+v", st.Paths.PeerRelay)
	}

	// The relay machine dies: the server's relay carries the packets again.
	received := pingsAround(t, c.h, d.ipv4(), 100, func() { r.proc.cmd.Process.Kill() })
	t.Logf("relay machine killed: %d of 100 pings (0.1 s apart) lost: about %.1f s without traffic", 100-received, float64(100-received)/10)
	if p, _ := c.pathTo(t, d); p != "relay" {
		t.Errorf("after the relay machine died: path %q, want relay", p)
	}
	if received < 60 {
		t.Errorf("only %d of 100 pings answered around the relay's death", received)
	}
	// Flow logs name the path each interval's packets took: the peer
	// relay for the transfer, the server's relay after the relay died.
	paths := map[string]bool{}
	defer func() {
		if t.Failed() {
			t.Logf("paths in c and d's flow records: %v", paths)
		}
	}()
	eventually(t, 30*time.Second, "flow records between c and d with both paths", func() bool {
		var page wire.FlowsResponse
		json.Unmarshal([]byte(run(t, f.server, "flows", "--data-dir", f.data, "--machine", d.name(), "--limit", "1000", "--json")), &page)
		for _, r := range page.Records {
			if r.SrcMachine == c.cfg["machine_id"] || r.DstMachine == c.cfg["machine_id"] {
				paths[r.Path] = true
			}
		}
		return paths[wire.PathPeerRelay] && paths[wire.PathRelayed]
	})
}

// BenchmarkPeerRelay: TCP throughput (iperf3, 10 s) between two agents
// behind symmetric NATs through a peer relay; between two agents behind
// endpoint-independent NATs on the same bridge, which go direct (the
// same hops without the relay machine); and between the first two again
// through the server's relay once the relay machine is gone. Run it once:
//
//	WIREFLEET_RELAY_RATE=1000000000 go test -run '^$' -bench PeerRelay -benchtime 1x ./scripts/e2e/
func BenchmarkPeerRelay(b *testing.B) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Skip("needs iperf3 (apt-get install iperf3)")
	}
	in, srvHost := newInternet(b)
	s1 := in.addSite("203.0.113.13", "masquerade random", 1)
	s2 := in.addSite("203.0.113.14", "masquerade random", 1)
	s3 := in.addSite("203.0.113.15", "masquerade", 1)
	s4 := in.addSite("203.0.113.16", "masquerade", 1)
	relayHost := in.attach("relay", "203.0.113.50")
	f, r := relayFleet(b, in, srvHost, relayHost, []string{"--peer-relay-rate", "1e10"}) // uncapped, as the server's relay is
	c, d := f.enroll(s1.hosts[0], 1), f.enroll(s2.hosts[0], 2)
	e, g := f.enroll(s3.hosts[0], 3), f.enroll(s4.hosts[0], 4)
	const secs = 10
	measure := func(name string, from, to *agent, want string) {
		eventually(b, 20*time.Second, name+": path "+want, func() bool {
			from.h.ping(to.ipv4())
			p, _ := from.pathTo(b, to)
			return p == want
		})
		iperfServer(b, to.h)
		var r0 int64
		if want == "peer-relay" {
			r0 = cpuTicks(b, r.proc.cmd.Process.Pid)
		}
		gbps := iperf(b, from.h, to.ipv4(), secs)
		b.ReportMetric(gbps, name+"-Gbit/s")
		msg := ""
		if want == "peer-relay" {
			cores := float64(cpuTicks(b, r.proc.cmd.Process.Pid)-r0) / 100 / secs
			msg = " relay machine " + strconv.FormatFloat(cores, 'f', 2, 64) + " cores"
		}
		b.Logf("%s (%s): %.2f Gbit/s%s", name, want, gbps, msg)
	}
	measure("peer-relay", c, d, "peer-relay")
	measure("direct", e, g, "direct")
	r.proc.cmd.Process.Kill()
	measure("server-relay", c, d, "relay")
}

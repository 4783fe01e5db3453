package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
)

// trustForE2E is longer than the agent's trust in a direct path without
// a pong (netpath's trustFor, 2.5 s).
const trustForE2E = 3 * time.Second

// A small internet in network namespaces: the server on a "public"
// bridge (203.0.113.0/24, documentation addresses that exist only in
// these namespaces), and sites behind router namespaces doing NAT with
// nftables. Nothing leaves the namespaces; they are removed at the end.

// site is a router namespace with a LAN behind it.
type site struct {
	router host // its WAN side on the public bridge
	wan    string
	lan    string // 10.N.0.0/24
	hosts  []host
}

type internet struct {
	t     testing.TB
	id    string
	br    string
	sites []*site
	n     int
}

func newInternet(t testing.TB) (*internet, host) {
	id := fmt.Sprintf("wn%d", os.Getpid()%100000)
	in := &internet{t: t, id: id, br: id + "br"}
	run(t, "ip", "netns", "add", in.br)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", in.br).Run() })
	run(t, "ip", "-n", in.br, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", in.br, "link", "set", "br0", "up")
	srv := in.attach("srv", "203.0.113.1")
	return in, srv
}

func (in *internet) ns(name string) host {
	h := host{ns: in.id + name}
	run(in.t, "ip", "netns", "add", h.ns)
	in.t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
	privateResolvConf(in.t, h.ns, "203.0.113.1")
	run(in.t, "ip", "-n", h.ns, "link", "set", "lo", "up")
	return h
}

// attach creates a namespace with eth0 on the public bridge.
func (in *internet) attach(name, addr string) host {
	h := in.ns(name)
	h.addr = addr
	in.n++
	port := fmt.Sprintf("v%d", in.n)
	run(in.t, "ip", "link", "add", "eth0", "netns", h.ns, "type", "veth", "peer", "name", port, "netns", in.br)
	run(in.t, "ip", "-n", in.br, "link", "set", port, "master", "br0", "up")
	run(in.t, "ip", "-n", h.ns, "addr", "add", addr+"/24", "dev", "eth0")
	run(in.t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
	return h
}

// addSite creates a router at wan doing NAT with the given nftables
// masquerade statement ("masquerade" is endpoint-independent, "masquerade
// random" symmetric) and hosts on its LAN. Like a home router (OpenWrt's
// default wan zone) it drops unsolicited traffic to itself; without that,
// Linux conntrack would record a peer's early probe as a connection to
// the router and give our own outgoing probe another port.
func (in *internet) addSite(wan, masq string, hosts int) *site {
	t := in.t
	idx := len(in.sites) + 1
	s := &site{wan: wan, lan: fmt.Sprintf("10.%d.0.1", idx)}
	s.router = in.attach(fmt.Sprintf("r%d", idx), wan)
	r := s.router.ns
	run(t, "ip", "-n", r, "link", "add", "lan0", "type", "bridge")
	run(t, "ip", "-n", r, "addr", "add", s.lan+"/24", "dev", "lan0")
	run(t, "ip", "-n", r, "link", "set", "lan0", "up")
	run(t, "ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nft := fmt.Sprintf(`table ip nat {
	chain post {
		type nat hook postrouting priority srcnat;
		oifname "eth0" %s
	}
}
table ip filter {
	chain forwarding {
		type filter hook forward priority 0;
	}
	chain in {
		type filter hook input priority 0;
		iifname "eth0" ct state new drop
	}
}
`, masq)
	s.router.nft(t, nft)
	for i := 1; i <= hosts; i++ {
		h := in.ns(fmt.Sprintf("s%dh%d", idx, i))
		h.addr = fmt.Sprintf("10.%d.0.%d", idx, 10+i)
		port := fmt.Sprintf("h%d", i)
		run(t, "ip", "link", "add", "eth0", "netns", h.ns, "type", "veth", "peer", "name", port, "netns", r)
		run(t, "ip", "-n", r, "link", "set", port, "master", "lan0", "up")
		run(t, "ip", "-n", h.ns, "addr", "add", h.addr+"/24", "dev", "eth0")
		run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", h.ns, "route", "add", "default", "via", s.lan)
		s.hosts = append(s.hosts, h)
	}
	in.sites = append(in.sites, s)
	return s
}

func (h host) nft(t testing.TB, rules string) {
	t.Helper()
	cmd := h.cmd("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("[%s] nft: %v\n%s\n%s", h.ns, err, out, rules)
	}
}

// natStatus is the part of `wirefleet-agent status --json` this test reads.
type natStatus struct {
	Peers []struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		Endpoint string `json:"endpoint"`
		State    string `json:"state"`
	} `json:"peers"`
	Paths struct {
		Relay *struct {
			Connected bool `json:"connected"`
		} `json:"relay"`
		Reflexive string `json:"reflexive"`
		RelayTx   uint64 `json:"relay_tx_packets"`
		DirectTx  uint64 `json:"direct_tx_packets"`
		PeerRelay *struct {
			Forwarded uint64 `json:"forwarded_packets"`
		} `json:"peer_relay"`
	} `json:"paths"`
}

func (a *agent) status(t testing.TB) natStatus {
	var st natStatus
	out, err := a.h.cmd(bins+"/wirefleet-agent", "status", "--json", "--state-dir", a.dir).Output()
	if err == nil {
		json.Unmarshal(out, &st)
	}
	return st
}

// pathTo returns the path a reports to peer b ("direct", "relay", …) and
// its address.
func (a *agent) pathTo(t testing.TB, b *agent) (string, string) {
	for _, p := range a.status(t).Peers {
		if p.Name == b.name() {
			return p.Path, p.Endpoint
		}
	}
	return "", ""
}

// relayBytes reads the server's relayed-bytes counter from /metrics.
func relayBytes(t testing.TB, srv host) float64 {
	out, _ := srv.cmd("curl", "-s", "http://127.0.0.1:9464/metrics").Output() // the fleet's --metrics-listen
	m := regexp.MustCompile(`(?m)^wirefleet_relay_bytes_total (\S+)$`).FindSubmatch(out)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// fleet starts the server on the public bridge.
func (in *internet) fleet(srvHost host) *fleet {
	f := &fleet{t: in.t, data: in.t.TempDir(), server: bins + "/wirefleet-server", hosts: []host{srvHost}}
	if s := os.Getenv("WIREFLEET_E2E_SERVER"); s != "" {
		f.server = s // another server binary (mixed versions, TestRelayBetweenVersions)
	}
	f.serverURL = "https://" + srvHost.addr + ":8443"
	f.srv = f.startServer()
	f.pin = serverPin(in.t, f.srv)
	return f
}

// serverPin is the TLS pin the server printed at start.
func serverPin(t testing.TB, srv *proc) string {
	pin := regexp.MustCompile(`pin (sha256/\S+)`).FindStringSubmatch(srv.output())
	if pin == nil {
		t.Fatalf("no pin in server output:\n%s", srv.output())
	}
	return pin[1]
}

// reportedPath is the path to peer that machine's latest health report
// shows, read from the server over its admin socket.
func reportedPath(data, machine, peer string) string {
	cl, err := client.New("http://local", client.WithUnixSocket(filepath.Join(data, "wirefleet.sock")))
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := cl.Health(ctx, machine, 1)
	if err != nil || h.Latest == nil {
		return ""
	}
	for _, p := range h.Latest.Tunnel.Peers {
		if p.Name == peer {
			return p.Path
		}
	}
	return ""
}

// pingsOK sends n pings 50 ms apart and returns how many were answered.
func pingsOK(h host, dst string, n int) int {
	out, _ := h.cmd("ping", "-n", "-c", strconv.Itoa(n), "-i", "0.05", "-W", "1", dst).CombinedOutput()
	m := regexp.MustCompile(`(\d+) received`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	got, _ := strconv.Atoi(string(m[1]))
	return got
}

// tcpCheck runs an echo server in dst's namespace and sends 256 KiB to it
// over the overlay from src's, checking every byte comes back. The test
// binary re-executes itself as both ends (see TestMain).
func tcpCheck(t testing.TB, src, dst *agent) {
	t.Helper()
	addr := net.JoinHostPort(dst.ipv4(), "7777")
	echo := dst.h.cmd(os.Args[0], "-test.run=^$")
	echo.Env = append(os.Environ(), "WF_E2E_TCP_ECHO="+addr)
	p := startProc(t, echo)
	eventually(t, 5*time.Second, "echo server listening", func() bool { return strings.Contains(p.output(), "echo listening") })
	send := src.h.cmd(os.Args[0], "-test.run=^$")
	send.Env = append(os.Environ(), "WF_E2E_TCP_SEND="+addr)
	if out, err := send.CombinedOutput(); err != nil || !strings.Contains(string(out), "echo ok") {
		t.Fatalf("TCP %s → %s over the overlay: %v\n%s", src.name(), dst.name(), err, out)
	}
}

// tcpHelper is the echo server or client when the test binary is
// re-executed inside a namespace; it reports whether it ran.
func tcpHelper() bool {
	if addr := os.Getenv("WF_E2E_TCP_ECHO"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Println("listen:", err)
			os.Exit(1)
		}
		fmt.Println("echo listening")
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}
	if addr := os.Getenv("WF_E2E_TCP_SEND"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		data := make([]byte, 256<<10)
		for i := range data {
			data[i] = byte(i * 7)
		}
		go c.Write(data)
		got := make([]byte, len(data))
		if _, err := io.ReadFull(c, got); err != nil {
			fmt.Println("read:", err)
			os.Exit(1)
		}
		for i := range got {
			if got[i] != data[i] {
				fmt.Println("corrupt at", i)
				os.Exit(1)
			}
		}
		fmt.Println("echo ok")
		os.Exit(0)
	}
	return false
}

func TestNATTraversal(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (.ci/run installs nftables)")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl (.ci/run installs it)")
	}
	in, srvHost := newInternet(t)
	cone1 := in.addSite("203.0.113.11", "masquerade", 2)
	cone2 := in.addSite("203.0.113.12", "masquerade", 1)
	sym1 := in.addSite("203.0.113.13", "masquerade random", 1)
	sym2 := in.addSite("203.0.113.14", "masquerade random", 1)
	noUDP := in.addSite("203.0.113.15", "masquerade", 1)
	noUDP.router.nft(t, `add rule ip filter forwarding iifname "lan0" meta l4proto udp drop`)

	f := in.fleet(srvHost)

	a1 := f.enroll(cone1.hosts[0], 1)
	a2 := f.enroll(cone1.hosts[1], 2)
	b := f.enroll(cone2.hosts[0], 3)
	c := f.enroll(sym1.hosts[0], 4)
	d := f.enroll(sym2.hosts[0], 5)
	e := f.enroll(noUDP.hosts[0], 6)
	all := []*agent{a1, a2, b, c, d, e}
	eventually(t, 20*time.Second, "every agent has a full map and a relay session", func() bool {
		for _, x := range all {
			st := x.status(t)
			if len(st.Peers) != len(all)-1 || st.Paths.Relay == nil || !st.Paths.Relay.Connected {
				return false
			}
		}
		return true
	})
	if r := a1.status(t).Paths.Reflexive; !strings.HasPrefix(r, cone1.wan+":") {
		t.Errorf("a1's reflexive address %q, want its router's %s", r, cone1.wan)
	}

	t.Run("cone NAT: relayed first, then direct, then the relay is bypassed", func(t *testing.T) {
		start := time.Now()
		eventually(t, 5*time.Second, "first ping a1 → b", func() bool { return a1.h.ping(b.ipv4()) })
		first := time.Since(start)
		took := eventually(t, 10*time.Second, "direct path a1 → b", func() bool {
			a1.h.ping(b.ipv4())
			p, _ := a1.pathTo(t, b)
			q, _ := b.pathTo(t, a1)
			return p == "direct" && q == "direct"
		})
		_, ep := a1.pathTo(t, b)
		if !strings.HasPrefix(ep, cone2.wan+":") {
			t.Errorf("a1 reaches b at %s, want b's router %s", ep, cone2.wan)
		}
		// The server learns the path from a1's health reports (the web
		// machine page shows it).
		eventually(t, 10*time.Second, "a1's health report shows the direct path to b", func() bool {
			return reportedPath(f.data, a1.name(), b.name()) == "direct"
		})
		t.Logf("first ping through the overlay %v, both sides direct %v later", first.Round(time.Millisecond), (first + took).Round(time.Millisecond))
		if got := pingsOK(a1.h, b.ipv4(), 40); got < 36 {
			t.Errorf("%d of 40 pings answered on the direct path", got)
		}
		// The 256 KiB transfer bypasses the relay. The counter is the
		// server's, so the other agents' keepalives and handshake retries
		// through it (a few KiB) are allowed for.
		before := relayBytes(t, srvHost)
		tcpCheck(t, a1, b)
		if after := relayBytes(t, srvHost); after-before > 32<<10 {
			t.Errorf("the relay carried %v bytes of a 256 KiB transfer on a direct path", after-before)
		}
	})

	outer := t // the restarted agent lives as long as the whole test
	t.Run("cold start: from run to the first ping and to the direct path", func(t *testing.T) {
		// b restarts (as after a reboot) while a1 pings it every 20 ms:
		// a1's first handshake reaches the relay before b's session does.
		b.proc.cmd.Process.Signal(syscall.SIGTERM)
		b.proc.cmd.Wait()
		eventually(t, 10*time.Second, "b's interface gone", func() bool { return b.h.cmd("ip", "link", "show", b.iface).Run() != nil })
		time.Sleep(trustForE2E) // a1's direct path to b goes stale
		pinger := a1.h.cmd("ping", "-n", "-i", "0.02", "-w", "8", b.ipv4())
		var out strings.Builder
		pinger.Stdout = &out
		if err := pinger.Start(); err != nil {
			t.Fatal(err)
		}
		b.start(outer)
		direct := eventually(t, 15*time.Second, "direct a1 ↔ b after b's restart", func() bool {
			p, _ := a1.pathTo(t, b)
			q, _ := b.pathTo(t, a1)
			return p == "direct" && q == "direct"
		})
		pinger.Wait()
		m := regexp.MustCompile(`icmp_seq=(\d+)`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("no ping answered within 8 s of b's start:\n%s", out.String())
		}
		seq, _ := strconv.Atoi(m[1])
		t.Logf("cold start of b: first ping from a1 answered %v after run (ping %d at 20 ms), both sides direct after %v",
			time.Duration(seq-1)*20*time.Millisecond, seq, direct.Round(100*time.Millisecond))
	})

	t.Run("symmetric NAT on both sides: the relay carries ping and TCP", func(t *testing.T) {
		eventually(t, 5*time.Second, "ping c → d", func() bool { return c.h.ping(d.ipv4()) })
		before := relayBytes(t, srvHost)
		if got := pingsOK(c.h, d.ipv4(), 20); got < 19 {
			t.Errorf("%d of 20 pings answered through the relay", got)
		}
		tcpCheck(t, c, d)
		if p, _ := c.pathTo(t, d); p != "relay" {
			t.Errorf("c → d path %q, want relay", p)
		}
		if after := relayBytes(t, srvHost); after-before < 256<<10 {
			t.Errorf("the relay carried only %v bytes of the TCP transfer", after-before)
		}
	})

	t.Run("UDP blocked: relayed over the HTTPS port", func(t *testing.T) {
		eventually(t, 5*time.Second, "ping e → b", func() bool { return e.h.ping(b.ipv4()) })
		tcpCheck(t, e, b)
		if p, _ := e.pathTo(t, b); p != "relay" {
			t.Errorf("e → b path %q, want relay", p)
		}
		if r := e.status(t).Paths.Reflexive; r != "" {
			t.Errorf("e learned a reflexive address %q through a UDP block", r)
		}
	})

	t.Run("same NAT: LAN addresses, no hairpin", func(t *testing.T) {
		eventually(t, 10*time.Second, "direct path a1 → a2", func() bool {
			a1.h.ping(a2.ipv4())
			p, _ := a1.pathTo(t, a2)
			return p == "direct"
		})
		if _, ep := a1.pathTo(t, a2); !strings.HasPrefix(ep, a2.h.addr+":") {
			t.Errorf("a1 reaches a2 at %s, want its LAN address %s", ep, a2.h.addr)
		}
	})

	t.Run("direct path broken: falls back to the relay, then returns", func(t *testing.T) {
		eventually(t, 10*time.Second, "direct a1 → b", func() bool {
			a1.h.ping(b.ipv4())
			p, _ := a1.pathTo(t, b)
			return p == "direct"
		})
		// 100 pings 50 ms apart; the direct path breaks after the first few.
		pinger := a1.h.cmd("ping", "-n", "-c", "100", "-i", "0.05", "-W", "1", b.ipv4())
		var out strings.Builder
		pinger.Stdout = &out
		pinger.Start()
		time.Sleep(500 * time.Millisecond)
		cone2.router.nft(t, `table ip cut {
	chain forwarding {
		type filter hook forward priority -1;
		meta l4proto udp drop
	}
}
`)
		pinger.Wait()
		m := regexp.MustCompile(`(\d+) received`).FindStringSubmatch(out.String())
		got := 0
		if m != nil {
			got, _ = strconv.Atoi(m[1])
		}
		lost := 100 - got
		t.Logf("direct path cut: %d of 100 pings (50 ms apart) lost, %.1f s without traffic", lost, float64(lost)*0.05)
		if lost > 60 {
			t.Errorf("%d of 100 pings lost: no fallback to the relay", lost)
		}
		if p, _ := a1.pathTo(t, b); p != "relay" {
			t.Errorf("path with UDP cut %q, want relay", p)
		}
		cone2.router.run(t, "nft", "delete", "table", "ip", "cut")
		eventually(t, 20*time.Second, "back to direct after UDP returns", func() bool {
			a1.h.ping(b.ipv4())
			p, _ := a1.pathTo(t, b)
			return p == "direct"
		})
	})

	t.Run("a site's public address changes: peers reconnect without a restart", func(t *testing.T) {
		r := cone2.router
		run(t, "ip", "-n", r.ns, "addr", "del", cone2.wan+"/24", "dev", "eth0") // masquerade forgets its mappings
		run(t, "ip", "-n", r.ns, "addr", "add", "203.0.113.22/24", "dev", "eth0")
		eventually(t, 45*time.Second, "ping a1 → b after renumbering", func() bool { return a1.h.ping(b.ipv4()) })
		eventually(t, 60*time.Second, "direct to b's new address", func() bool {
			a1.h.ping(b.ipv4())
			p, ep := a1.pathTo(t, b)
			return p == "direct" && strings.HasPrefix(ep, "203.0.113.22:")
		})
	})

	t.Run("a revoked machine's relay session is closed and its packets go nowhere", func(t *testing.T) {
		eventually(t, 5*time.Second, "ping d → c", func() bool { return d.h.ping(c.ipv4()) })
		run(t, f.server, "machines", "revoke", d.name(), "--data-dir", f.data)
		eventually(t, 5*time.Second, "relay session of the revoked machine closed", func() bool {
			return strings.Contains(f.srv.output(), "relay: session ended") && strings.Contains(f.srv.output(), d.name())
		})
		if c.h.ping(d.ipv4()) {
			t.Fatal("c still reaches the revoked machine")
		}
	})
}

// TestRelayBetweenVersions: two agents behind symmetric NAT (every packet
// crosses the server's relay) ping and move 2 MB of TCP. In CI both run
// this tree's agent, so batches go both ways; WIREFLEET_E2E_PEER_AGENT
// names another agent binary for the second one (one built from before
// relay batches, say): the new server and the new agent then fall back
// to lone frames with it. WIREFLEET_E2E_SERVER does the same for the
// server.
func TestRelayBetweenVersions(t *testing.T) {
	requireNetns(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft (.ci/run installs nftables)")
	}
	in, srvHost := newInternet(t)
	s1 := in.addSite("203.0.113.13", "masquerade random", 1)
	s2 := in.addSite("203.0.113.14", "masquerade random", 1)
	f := in.fleet(srvHost)
	c := f.enroll(s1.hosts[0], 1)
	peer := os.Getenv("WIREFLEET_E2E_PEER_AGENT")
	f.nextBin = peer
	d := f.enroll(s2.hosts[0], 2)
	version := strings.TrimSpace(d.h.run(t, d.binary(), "--version"))
	t.Logf("the second agent: %s (%s)", orThis(peer), version)
	eventually(t, 20*time.Second, "ping c → d through the relay", func() bool { return c.h.ping(d.ipv4()) })
	if p, _ := c.pathTo(t, d); p != "relay" {
		t.Fatalf("path c → d %q, want relay", p)
	}
	if !d.h.ping(c.ipv4()) {
		t.Error("ping d → c")
	}
	transfer(t, c, d, "cat /dev/zero", "the relay")
}

// transfer sends 2,000,000 bytes of what the shell command source writes
// from src to dst over the overlay (nc on port 9000), and checks they all
// arrived.
func transfer(t testing.TB, src, dst *agent, source, via string) {
	t.Helper()
	sink := startProc(t, dst.h.cmd("sh", "-c", "nc -l 9000 | wc -c"))
	time.Sleep(200 * time.Millisecond)
	src.h.run(t, "sh", "-c", source+" | head -c 2000000 | nc -N -w 5 "+dst.ipv4()+" 9000")
	sink.cmd.Wait()
	if got := strings.TrimSpace(sink.output()); got != "2000000" {
		t.Errorf("%s received %s bytes of 2000000 through %s", dst.name(), got, via)
	}
}

func orThis(bin string) string {
	if bin == "" {
		return "this tree's agent"
	}
	return bin
}

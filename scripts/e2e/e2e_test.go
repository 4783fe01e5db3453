// Package e2e proves the whole system with real parts: the real
// wirefleet-server and wirefleet-agent binaries, each agent in its own
// network namespace on a real TUN device running wireguard-go, joined by
// veth pairs on a bridge, checked with ping and Debian's `wg`.
//
// It needs root, /dev/net/tun, iproute2, ping and wg; CI runs as root and
// .ci/run installs the tools, so it runs there on every submission.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var bins string

func TestMain(m *testing.M) {
	if tcpHelper() || dnsHelper() || pebbleHelper() || consoleHelper() {
		return
	}
	dir, err := os.MkdirTemp("", "wirefleet-e2e-bin")
	if err != nil {
		panic(err)
	}
	bins = dir
	for _, b := range []string{"server", "agent"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "wirefleet-"+b), "../../"+b).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func requireNetns(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces and TUN devices (CI runs as root)")
	}
	for _, tool := range []string{"ip", "ping", "wg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (.ci/run installs iproute2, iputils-ping and wireguard-tools)", tool)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// host is one network namespace on the test bridge.
type host struct {
	ns   string
	addr string
}

func (h host) cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

func (h host) run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := h.cmd(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("[%s] %s %s: %v\n%s", h.ns, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (h host) ping(dst string) bool {
	args := []string{"-c", "1", "-W", "1", dst}
	if strings.Contains(dst, ":") {
		args = append([]string{"-6"}, args...)
	}
	return h.cmd("ping", args...).Run() == nil
}

// network creates a bridge namespace and n hosts 10.77.X.i/24 on it.
func network(t testing.TB, n int) []host {
	t.Helper()
	id := fmt.Sprintf("wf%d", os.Getpid()%100000)
	br := id + "br"
	run(t, "ip", "netns", "add", br)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", br).Run() })
	run(t, "ip", "-n", br, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", br, "link", "set", "br0", "up")
	var hosts []host
	for i := 1; i <= n; i++ {
		h := host{ns: fmt.Sprintf("%sh%d", id, i), addr: fmt.Sprintf("10.77.0.%d", i)}
		run(t, "ip", "netns", "add", h.ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
		privateResolvConf(t, h.ns, "10.77.0.1")
		run(t, "ip", "link", "add", "eth0", "netns", h.ns, "type", "veth", "peer", "name", fmt.Sprintf("p%d", i), "netns", br)
		run(t, "ip", "-n", br, "link", "set", fmt.Sprintf("p%d", i), "master", "br0", "up")
		run(t, "ip", "-n", h.ns, "addr", "add", h.addr+"/24", "dev", "eth0")
		run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
		hosts = append(hosts, h)
	}
	return hosts
}

// privateResolvConf gives namespace ns a resolv.conf of its own (naming
// upstream), which `ip netns exec` mounts over /etc/resolv.conf: agents
// configure their namespace's resolver, never the host's.
func privateResolvConf(t testing.TB, ns, upstream string) {
	t.Helper()
	dir := filepath.Join("/etc/netns", ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("# the namespace's own\nnameserver "+upstream+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// proc is a background process whose output is kept.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// stop ends the process as a service manager would (SIGTERM) and waits
// for it.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(cmd.Args, " "), p.output())
		}
	})
	return p
}

func eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not true within %v", what, within)
	return 0
}

type agent struct {
	h          host
	dir        string
	iface      string
	proc       *proc
	cfg        map[string]any
	enrolledAt time.Time
	args       []string // more flags for `run`
	bin        string   // the agent binary ("": this tree's)
}

// binary is the agent's executable.
func (a *agent) binary() string {
	if a.bin != "" {
		return a.bin
	}
	return bins + "/wirefleet-agent"
}

func (a *agent) ipv4() string { return a.cfg["ipv4"].(string) }
func (a *agent) ipv6() string { return a.cfg["ipv6"].(string) }
func (a *agent) name() string { return a.cfg["name"].(string) }

func TestFleetInNetworkNamespaces(t *testing.T) {
	f := newFleet(t, 4)
	hosts, server, data := f.hosts, f.server, f.data
	srv := f.srv
	enroll := f.enroll
	startServer := f.startServer
	a := enroll(hosts[1], 1)
	b := enroll(hosts[2], 2)

	// 3. ping over the overlay, both ways, IPv4 and IPv6.
	for _, pair := range [][2]*agent{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		d := eventually(t, 20*time.Second, fmt.Sprintf("%s pings %s over IPv4", from.name(), to.name()), func() bool { return from.h.ping(to.ipv4()) })
		t.Logf("first ping %s → %s after %v", from.name(), to.name(), d.Round(time.Millisecond))
		eventually(t, 10*time.Second, fmt.Sprintf("%s pings %s over IPv6", from.name(), to.name()), func() bool { return from.h.ping(to.ipv6()) })
	}
	show := a.h.run(t, "wg", "show", a.iface)
	if !strings.Contains(show, "latest handshake") || !strings.Contains(show, b.ipv4()+"/32") {
		t.Fatalf("wg show %s lacks the peer with a handshake:\n%s", a.iface, show)
	}
	bKey := strings.TrimSpace(b.h.run(t, "wg", "show", b.iface, "public-key"))

	// 4. a third machine joins; the first two reach it without restart.
	c := enroll(hosts[3], 3)
	for _, from := range []*agent{a, b} {
		eventually(t, 20*time.Second, from.name()+" pings the new machine", func() bool { return from.h.ping(c.ipv4()) })
	}

	// The agent's status names the keystore and shows peers with handshakes.
	var st struct {
		Keystore  string `json:"keystore"`
		Tunnel    string `json:"tunnel"`
		WireGuard string `json:"wireguard"`
		Peers     []struct {
			Name          string    `json:"name"`
			LastHandshake time.Time `json:"last_handshake"`
		} `json:"peers"`
	}
	json.Unmarshal([]byte(a.h.run(t, bins+"/wirefleet-agent", "status", "--json", "--state-dir", a.dir)), &st)
	if st.Keystore == "" || st.Tunnel != "up" || len(st.Peers) != 2 {
		t.Fatalf("status = %+v, want keystore named, tunnel up, 2 peers", st)
	}
	// The backend is named: auto picks the kernel module where there is one.
	if _, err := os.Stat("/sys/module/wireguard"); err != nil && st.WireGuard != "userspace" {
		t.Fatalf("status names WireGuard backend %q; without the kernel module auto must use userspace", st.WireGuard)
	} else if st.WireGuard == "" {
		t.Fatal("status does not name the WireGuard backend")
	}

	// 6. restart the server: tunnels keep working meanwhile, agents reconnect.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	for i := 0; i < 3; i++ {
		if !a.h.ping(c.ipv4()) {
			t.Fatal("the tunnel stopped working while the server was down")
		}
	}
	// A reboot while the server is down: the agent starts from its cached
	// map and the tunnel comes back without the server.
	a.proc.cmd.Process.Signal(syscall.SIGTERM)
	a.proc.cmd.Wait()
	if a.h.cmd("ip", "link", "show", a.iface).Run() == nil {
		t.Fatal("stopped agent left its interface behind")
	}
	a.proc = startProc(t, a.h.cmd(bins+"/wirefleet-agent", "run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s"))
	eventually(t, 20*time.Second, "restarted agent reaches a peer with the server down", func() bool { return a.h.ping(c.ipv4()) })
	if !strings.Contains(a.proc.output(), "starting from the cached network map") {
		t.Fatalf("restarted agent did not use its cache:\n%s", a.proc.output())
	}

	srv = startServer()
	d := eventually(t, 70*time.Second, "all three agents hold long-polls on the restarted server", func() bool { return connected(data) == 3 })
	t.Logf("agents reconnected %v after the server came back", d.Round(time.Millisecond))

	// 5. revoke b: within 5 s its peers drop it, ping fails, its agent has
	// removed the interface and wiped its secrets.
	t0 := time.Now()
	run(t, server, "machines", "revoke", b.name(), "--data-dir", data)
	eventually(t, 5*time.Second, "peers drop the revoked machine", func() bool {
		return !strings.Contains(a.h.run(t, "wg", "show", a.iface, "peers"), bKey) &&
			!strings.Contains(c.h.run(t, "wg", "show", c.iface, "peers"), bKey)
	})
	eventually(t, 5*time.Second, "revoked agent removes its interface", func() bool {
		return b.h.cmd("ip", "link", "show", b.iface).Run() != nil
	})
	t.Logf("revocation took effect on every host in %v", time.Since(t0).Round(time.Millisecond))
	if a.h.ping(b.ipv4()) {
		t.Fatal("revoked machine still answers over the overlay")
	}
	secrets, _ := os.ReadDir(filepath.Join(b.dir, "secrets"))
	if len(secrets) != 0 {
		t.Fatalf("revoked agent kept %d secret files", len(secrets))
	}
	if !strings.Contains(b.proc.output(), "revoked") || b.proc.cmd.ProcessState != nil {
		t.Fatalf("revoked agent should log the revocation and stay up idle (no restart loop):\n%s", b.proc.output())
	}
	if a.h.ping(c.ipv4()) == false {
		t.Fatal("remaining machines lost each other after the revocation")
	}

	// 7. health reports arrived for every machine, with tunnel peers.
	for _, ag := range []*agent{a, c} {
		var h wire.MachineHealth
		eventually(t, 10*time.Second, "health report from "+ag.name(), func() bool {
			if err := json.Unmarshal([]byte(run(t, server, "machines", "health", ag.name(), "--data-dir", data, "--json")), &h); err != nil {
				return false
			}
			return h.Latest != nil && h.Latest.Tunnel.Up && h.Latest.Tunnel.Connected >= 1 && h.Latest.MemTotal > 0
		})
		t.Logf("%s health: cpu %.1f%%, mem %d/%d MiB, %d/%d peers connected, %d reports kept", ag.name(), h.Latest.CPUPercent,
			h.Latest.MemUsed>>20, h.Latest.MemTotal>>20, h.Latest.Tunnel.Connected, h.Latest.Tunnel.PeerCount, len(h.History))
	}
	var hb wire.MachineHealth
	json.Unmarshal([]byte(run(t, server, "machines", "health", b.name(), "--data-dir", data, "--json")), &hb)
	if hb.Latest == nil {
		t.Fatal("no health stored for the revoked machine from before its revocation")
	}

	// Secrets never reach config files, caches, status or logs: look for
	// the private key (as `wg` reports it, and in hex as UAPI speaks it)
	// and any machine credential.
	for _, ag := range []*agent{a, c} {
		priv := strings.TrimSpace(ag.h.run(t, "wg", "show", ag.iface, "private-key"))
		raw, _ := base64.StdEncoding.DecodeString(priv)
		needles := []string{priv, hex.EncodeToString(raw), "wfm_"}
		haystacks := map[string]string{"log": ag.proc.output(), "status": ag.h.run(t, bins+"/wirefleet-agent", "status", "--json", "--state-dir", ag.dir)}
		ents, _ := os.ReadDir(ag.dir)
		for _, e := range ents {
			if !e.IsDir() {
				b, _ := os.ReadFile(filepath.Join(ag.dir, e.Name()))
				haystacks[e.Name()] = string(b)
			}
		}
		for where, text := range haystacks {
			for _, n := range needles {
				if len(n) > 8 && strings.Contains(text, n) {
					t.Fatalf("%s of %s contains a secret (%.8s…)", where, ag.name(), n)
				}
			}
		}
	}

	// down / up: the tunnel goes away and comes back, enrollment stays.
	c.h.run(t, bins+"/wirefleet-agent", "down", "--state-dir", c.dir)
	eventually(t, 5*time.Second, "down removes the interface", func() bool { return c.h.cmd("ip", "link", "show", c.iface).Run() != nil })
	c.h.run(t, bins+"/wirefleet-agent", "up", "--state-dir", c.dir)
	eventually(t, 10*time.Second, "up restores the tunnel", func() bool { return a.h.ping(c.ipv4()) })

	// logout: the server is told (the machine is revoked), peers drop it,
	// the tunnel and the secrets are gone.
	cKey := strings.TrimSpace(c.h.run(t, "wg", "show", c.iface, "public-key"))
	c.h.run(t, bins+"/wirefleet-agent", "logout", "--state-dir", c.dir)
	var mc wire.Machine
	json.Unmarshal([]byte(run(t, server, "machines", "show", c.name(), "--data-dir", data, "--json")), &[]*wire.Machine{&mc})
	if mc.State != wire.MachineRevoked {
		t.Fatalf("after logout the server shows %s as %q, want revoked", c.name(), mc.State)
	}
	eventually(t, 5*time.Second, "peers drop the logged-out machine", func() bool {
		return !strings.Contains(a.h.run(t, "wg", "show", a.iface, "peers"), cKey)
	})
	if c.h.cmd("ip", "link", "show", c.iface).Run() == nil {
		t.Fatal("logout left the interface")
	}
	if _, err := os.Stat(filepath.Join(c.dir, "config.json")); !os.IsNotExist(err) {
		t.Fatal("logout left config.json")
	}
	if secrets, _ := os.ReadDir(filepath.Join(c.dir, "secrets")); len(secrets) != 0 {
		t.Fatalf("logout left %d secret files", len(secrets))
	}
}

// fleet is a server in hosts[0] and agents enrolled in the others.
type fleet struct {
	t         testing.TB
	hosts     []host
	data      string
	server    string
	serverURL string
	pin       string
	srv       *proc
	nextBin   string // the next enrolled agent runs this binary ("": this tree's)
	nextOwner string // the next enrolled machine's owner (a person; "": none)
	// serverArgs are more flags for the server's serve (newFleetWith).
	serverArgs []string
}

func newFleet(t testing.TB, n int) *fleet { return newFleetWith(t, n) }

// newFleetWith is newFleet with more flags for the server.
func newFleetWith(t testing.TB, n int, serverArgs ...string) *fleet {
	requireNetns(t)
	f := &fleet{t: t, hosts: network(t, n), data: t.TempDir(), server: bins + "/wirefleet-server", serverArgs: serverArgs}
	f.serverURL = "https://" + f.hosts[0].addr + ":8443"
	f.srv = f.startServer()
	pin := regexp.MustCompile(`pin (sha256/\S+)`).FindStringSubmatch(f.srv.output())
	if pin == nil {
		t.Fatalf("no pin in server output:\n%s", f.srv.output())
	}
	f.pin = pin[1]
	return f
}

// soleMachine returns the fleet's only machine as the server lists it
// (the zero Machine while there is not exactly one).
func (f *fleet) soleMachine() wire.Machine {
	var ms []wire.Machine
	json.Unmarshal([]byte(run(f.t, f.server, "machines", "list", "--data-dir", f.data, "--json")), &ms)
	if len(ms) != 1 {
		return wire.Machine{}
	}
	return ms[0]
}

func (f *fleet) startServer() *proc {
	p := startProc(f.t, f.hosts[0].cmd(f.server, append([]string{"serve", "--data-dir", f.data, "--listen", f.hosts[0].addr + ":8443",
		"--external-url", f.serverURL, "--long-poll", "20s", "--metrics-listen", "127.0.0.1:9464"}, f.serverArgs...)...))
	eventually(f.t, 15*time.Second, "server listening", func() bool { return strings.Contains(p.output(), "listening") })
	return p
}

func (f *fleet) token(tags ...string) string {
	args := []string{"tokens", "create", "--data-dir", f.data, "--json"}
	if f.nextOwner != "" {
		args = append(args, "--owner", f.nextOwner)
		f.nextOwner = ""
	}
	for _, tag := range tags {
		args = append(args, "--tag", tag)
	}
	var resp wire.CreateTokenResponse
	if err := json.Unmarshal([]byte(run(f.t, f.server, args...)), &resp); err != nil {
		f.t.Fatal(err)
	}
	return resp.Secret
}

// enroll enrolls the agent in hosts[i] and runs it on interface wf<i>;
// the machine gets tags.
func (f *fleet) enroll(h host, i int, tags ...string) *agent {
	return f.enrollWith(h, i, nil, tags...)
}

// enrollWith is enroll with more flags for the agent's `run`.
func (f *fleet) enrollWith(h host, i int, args []string, tags ...string) *agent {
	t := f.t
	a := &agent{h: h, dir: t.TempDir(), iface: fmt.Sprintf("wf%d", i), args: args, bin: f.nextBin}
	f.nextBin = ""
	t0 := time.Now()
	h.run(t, a.binary(), "enroll", "--server", f.serverURL, "--token", f.token(tags...), "--pin", f.pin, "--state-dir", a.dir)
	b, err := os.ReadFile(filepath.Join(a.dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &a.cfg)
	a.start(t)
	eventually(t, 15*time.Second, a.iface+" up", func() bool { return h.cmd("ip", "link", "show", a.iface).Run() == nil })
	a.enrolledAt = t0
	t.Logf("%s enrolled as %s %s %s; tunnel up %v after enroll started", h.ns, a.name(), a.ipv4(), a.ipv6(), time.Since(t0).Round(time.Millisecond))
	return a
}

// start runs the agent in its namespace; with WIREFLEET_EAGER=1 (for
// benchmarks' comparisons) every peer is kept configured.
func (a *agent) start(t testing.TB) {
	args := append([]string{"run", "--state-dir", a.dir, "--interface", a.iface, "--health-interval", "1s"}, a.args...)
	if os.Getenv("WIREFLEET_EAGER") == "1" {
		args = append(args, "--eager-peers")
	}
	a.proc = startProc(t, a.h.cmd(a.binary(), args...))
}

// connected asks the server, over its admin socket, how many long-polls
// it holds.
func connected(data string) int {
	cl, err := client.New("http://local", client.WithUnixSocket(filepath.Join(data, "wirefleet.sock")))
	if err != nil {
		return -1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := cl.ServerInfo(ctx)
	if err != nil {
		return -1
	}
	return info.Connected
}

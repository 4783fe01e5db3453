package tunnel

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/conn/bindtest"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/tuntest"
	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/agent/internal/netpath"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// The device tests run wireguard-go on wireguard-go's own test doubles
// (tuntest's channel TUN, bindtest's channel bind: no TUN device, no
// network) and control it through the real wgctrl, which reaches a
// userspace device only at /var/run/wireguard/<name>.sock. So that the
// tests neither need nor touch the host's /run, TestMain runs them again
// in a private mount namespace (inside a user namespace when not root)
// with a tmpfs on /run.
const nsEnv = "WIREFLEET_TUNNEL_TEST_NS"

var nsErr error // why the device tests cannot run here, if they cannot

func TestMain(m *testing.M) {
	if os.Getenv(nsEnv) == "" {
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), nsEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		attr := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
		if os.Getuid() != 0 {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
		cmd.SysProcAttr = attr
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		if err == nil {
			os.Exit(0)
		}
		nsErr = fmt.Errorf("cannot enter a private mount namespace: %w", err)
		os.Exit(m.Run())
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		nsErr = fmt.Errorf("make mounts private: %w", err)
	} else if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		nsErr = fmt.Errorf("mount tmpfs on /run: %w", err)
	} else if fi, err := os.Lstat("/var/run"); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		if err := syscall.Mount("tmpfs", "/var/run", "tmpfs", 0, "mode=0755"); err != nil {
			nsErr = fmt.Errorf("mount tmpfs on /var/run: %w", err)
		}
	}
	os.Exit(m.Run())
}

// namedTUN gives a channel TUN a name of our choosing (tuntest names every
// device alike), which is also its UAPI socket's name.
type namedTUN struct {
	tun.Device
	name string
}

func (n namedTUN) Name() (string, error) { return n.name, nil }

// countingControl counts device configurations, to show what is not sent.
type countingControl struct {
	Control
	configs atomic.Int32
}

func (c *countingControl) ConfigureDevice(name string, cfg wgtypes.Config) error {
	c.configs.Add(1)
	return c.Control.ConfigureDevice(name, cfg)
}

type node struct {
	t    *Tunnel
	tun  *tuntest.ChannelTUN
	ctl  *countingControl
	key  wgtypes.Key
	ip   netip.Addr
	peer wire.Peer // how the other node sees this one
}

func startNode(t testing.TB, name string, bind conn.Bind, ip string) *node {
	t.Helper()
	return startNodeWith(t, name, bind, ip, Config{})
}

func startNodeWith(t testing.TB, name string, bind conn.Bind, ip string, cfg Config) *node {
	t.Helper()
	if nsErr != nil {
		t.Skipf("device tests need a private /run: %v", nsErr)
	}
	priv := cfg.PrivateKey
	if priv == (wgtypes.Key{}) {
		priv, _ = wgtypes.GeneratePrivateKey()
	}
	wc, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	ctl := &countingControl{Control: wc}
	ct := tuntest.NewChannelTUN()
	cfg.PrivateKey, cfg.Self = priv, wire.Self{IPv4: ip}
	tn, err := Start(cfg, namedTUN{ct.TUN(), name}, bind, ctl,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tn.Close() })
	n := &node{t: tn, tun: ct, ctl: ctl, key: priv, ip: netip.MustParseAddr(ip)}
	n.peer = wire.Peer{ID: "m_" + name, Name: name, PublicKey: priv.PublicKey().String(), AllowedIPs: []string{ip + "/32"},
		Endpoints: []string{fmt.Sprintf("192.0.2.1:%d", tn.ListenPort())}}
	return n
}

// ping sends one packet from a to b through the tunnels and reports
// whether it came out of b's TUN.
func ping(a, b *node, wait time.Duration) bool {
	select {
	case a.tun.Outbound <- tuntest.Ping(b.ip, a.ip):
	case <-time.After(wait):
		return false
	}
	select {
	case <-b.tun.Inbound:
		return true
	case <-time.After(wait):
		return false
	}
}

func peerKeys(t *testing.T, n *node) map[string]PeerStatus {
	t.Helper()
	ps, err := n.t.Peers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]PeerStatus{}
	for _, p := range ps {
		out[p.PublicKey] = p
	}
	return out
}

// TestPeersAppliedRekeyedAndRemoved runs two real wireguard-go devices
// against each other and applies maps to them the way the engine does.
func TestPeersAppliedRekeyedAndRemoved(t *testing.T) {
	binds := bindtest.NewChannelBinds()
	a := startNode(t, "wft-a", binds[0], "100.64.0.1")
	b := startNode(t, "wft-b", binds[1], "100.64.0.2")
	if err := a.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{b.peer}}); err != nil {
		t.Fatal(err)
	}
	if err := b.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{a.peer}}); err != nil {
		t.Fatal(err)
	}
	if !ping(a, b, 5*time.Second) || !ping(b, a, 5*time.Second) {
		t.Fatal("no packet through the tunnel after applying full maps")
	}
	st := peerKeys(t, a)[b.peer.PublicKey]
	if st.ID != b.peer.ID || st.Name != "wft-b" || st.LastHandshake.IsZero() || st.TxBytes == 0 || len(st.AllowedIPs) != 1 {
		t.Fatalf("a's view of b: %+v", st)
	}

	// The same full map again (an agent reconnecting) configures nothing,
	// so the session survives.
	before := a.ctl.configs.Load()
	if err := a.t.Apply(wire.NetMap{Version: 2, Full: true, Peers: []wire.Peer{b.peer}}); err != nil {
		t.Fatal(err)
	}
	if n := a.ctl.configs.Load() - before; n != 0 {
		t.Fatalf("re-applying an identical map configured the device %d times", n)
	}
	if got := peerKeys(t, a)[b.peer.PublicKey].LastHandshake; !got.Equal(st.LastHandshake) {
		t.Fatalf("handshake reset by an identical map: %v → %v", st.LastHandshake, got)
	}

	// Deltas configure only the peers they name: adding c is one
	// configuration, b's session stays; naming b unchanged configures
	// nothing; removing c leaves b alone.
	c := wire.Peer{ID: "m_c", Name: "c", PublicKey: key(t), AllowedIPs: []string{"100.64.0.3/32"}}
	before = a.ctl.configs.Load()
	if err := a.t.Apply(wire.NetMap{Version: 3, Added: []wire.Peer{c}, Changed: []wire.Peer{b.peer}}); err != nil {
		t.Fatal(err)
	}
	if n, ks := a.ctl.configs.Load()-before, deviceKeys(t, a); n != 1 || len(ks) != 2 {
		t.Fatalf("adding c: %d configurations, device has %v", n, ks)
	}
	if err := a.t.Apply(wire.NetMap{Version: 4, Removed: []string{c.ID, "m_never_there"}}); err != nil {
		t.Fatal(err)
	}
	if ks := peerKeys(t, a); len(ks) != 1 || !ks[b.peer.PublicKey].LastHandshake.Equal(st.LastHandshake) {
		t.Fatalf("after removing c a has %v", ks)
	}

	// b re-keys: a replaces the peer's key; traffic flows once b uses it.
	newKey, _ := wgtypes.GeneratePrivateKey()
	rekeyed := b.peer
	rekeyed.PublicKey = newKey.PublicKey().String()
	if err := a.t.Apply(wire.NetMap{Version: 5, Changed: []wire.Peer{rekeyed}}); err != nil {
		t.Fatal(err)
	}
	ks := peerKeys(t, a)
	if _, old := ks[b.peer.PublicKey]; old || len(ks) != 1 || ks[rekeyed.PublicKey].ID != b.peer.ID {
		t.Fatalf("after re-key a has peers %v", ks)
	}
	if err := b.t.ctl.ConfigureDevice(b.t.Name(), wgtypes.Config{PrivateKey: &newKey}); err != nil {
		t.Fatal(err)
	}
	if !ping(b, a, 5*time.Second) {
		t.Fatal("no traffic after the re-key")
	}

	// Removal: a forgets b and stops accepting its packets.
	if err := a.t.Apply(wire.NetMap{Version: 6, Removed: []string{b.peer.ID}}); err != nil {
		t.Fatal(err)
	}
	if ks := peerKeys(t, a); len(ks) != 0 {
		t.Fatalf("after removal a still has %v", ks)
	}
	if ping(b, a, 500*time.Millisecond) {
		t.Fatal("a packet from a removed peer came through")
	}
}

// TestUAPINameInUseIsRefused: a second device with the same name (an
// agent in another network namespace shares /var/run/wireguard) must not
// start and then configure the first one's device through its socket.
func TestUAPINameInUseIsRefused(t *testing.T) {
	binds := bindtest.NewChannelBinds()
	startNode(t, "wft-same", binds[0], "100.64.0.1")
	if nsErr != nil {
		t.Skip(nsErr)
	}
	wc, _ := wgctrl.New()
	priv, _ := wgtypes.GeneratePrivateKey()
	_, err := Start(Config{PrivateKey: priv}, namedTUN{tuntest.NewChannelTUN().TUN(), "wft-same"}, binds[1], wc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("a second device took the name of a running one")
	}
}

// deviceKeys lists the peers configured in n's wireguard-go device.
func deviceKeys(t *testing.T, n *node) []string {
	t.Helper()
	d, err := n.ctl.Device(n.t.Name())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Peers {
		out = append(out, p.PublicKey.String())
	}
	return out
}

// TestLazyPeers runs two wireguard-go devices with lazy peers over the
// netpath bind: peers are configured on the first packet in either
// direction (the receiver learns the sender from the handshake itself),
// removed after a quiet period, and a side that lost its session (as in
// a restart) gets it back from the other side's next packet.
func TestLazyPeers(t *testing.T) {
	binds := bindtest.NewChannelBinds()
	var nodes [2]*node
	for i, name := range []string{"wfl-a", "wfl-b"} {
		priv, _ := wgtypes.GeneratePrivateKey()
		nb, err := netpath.New(binds[i], netpath.Options{PrivateKey: priv})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = startNodeWith(t, name, nb, fmt.Sprintf("100.64.0.%d", i+1), Config{Lazy: true, IdleAfter: time.Millisecond, PrivateKey: priv})
	}
	a, b := nodes[0], nodes[1]
	if err := a.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{b.peer}}); err != nil {
		t.Fatal(err)
	}
	if err := b.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{a.peer}}); err != nil {
		t.Fatal(err)
	}
	if ks := deviceKeys(t, a); len(ks) != 0 {
		t.Fatalf("a configured %v before any traffic", ks)
	}
	if st := peerKeys(t, a)[b.peer.PublicKey]; st.State != "idle" || st.Name != "wfl-b" {
		t.Fatalf("a's status of b before traffic: %+v, want idle", st)
	}

	// The first packet is not lost: a configures b in its TUN read, b
	// configures a when the handshake initiation arrives.
	if !ping(a, b, 5*time.Second) {
		t.Fatal("the first packet to an idle peer was lost")
	}
	if len(deviceKeys(t, a)) != 1 || len(deviceKeys(t, b)) != 1 {
		t.Fatalf("after the first packet: a has %v, b has %v", deviceKeys(t, a), deviceKeys(t, b))
	}
	if st := peerKeys(t, b)[a.peer.PublicKey]; st.State != "active" || st.LastHandshake.IsZero() {
		t.Fatalf("b's status of a: %+v, want active with a handshake", st)
	}
	if !ping(b, a, 5*time.Second) {
		t.Fatal("no reply through the tunnel")
	}

	// Quiet: a's sweep removes b (the session-lifetime guard is shortened
	// here; in use it is WireGuard's 180 s).
	a.t.sessionLife = 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// A packet still in flight (the last reply) between the two
		// sweeps moves the counters: that pair does not count as quiet.
		now := time.Now()
		a.t.sweep(now)                       // counters noted
		a.t.sweep(now.Add(time.Millisecond)) // unchanged since: idle
		if len(deviceKeys(t, a)) == 0 {
			break
		}
	}
	if ks := deviceKeys(t, a); len(ks) != 0 {
		t.Fatalf("a kept %v after the quiet period", ks)
	}
	if st := peerKeys(t, a)[b.peer.PublicKey]; st.State != "idle" {
		t.Fatalf("a's status of b after the sweep: %+v", st)
	}

	// b still has its session and sends on it; a dropped its half. The
	// packet is lost, but a recognises b by its address, configures it and
	// starts a handshake, so the next packet gets through at once instead
	// of after b's 15 s handshake timeout.
	ping(b, a, 300*time.Millisecond)
	deadline := time.Now().Add(3 * time.Second)
	for !ping(b, a, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a did not recover the session b still used")
		}
	}
}

// BenchmarkFirstPacket times the first packet from a to b and b's reply
// on a fresh pair of devices, so that both ends must handshake: with
// lazy peers (b idle on a, a unknown to b's device until its handshake
// arrives) and eager ones (configured, no session yet). The difference
// is what lazy peers add to the first packet (issue 13: < 2 ms).
//
//	sudo go test -run '^$' -bench FirstPacket -benchtime 200x ./agent/internal/tunnel/
func BenchmarkFirstPacket(b *testing.B) {
	for _, lazy := range []bool{false, true} {
		name := "eager"
		if lazy {
			name = "lazy"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				a, c := pair(b, fmt.Sprintf("wfb%da", i), fmt.Sprintf("wfb%db", i), lazy)
				b.StartTimer()
				if !ping(a, c, 5*time.Second) || !ping(c, a, 5*time.Second) {
					b.Fatal("first packet lost")
				}
				b.StopTimer()
				a.t.Close()
				c.t.Close()
				b.StartTimer()
			}
		})
	}
}

// pair starts two devices on netpath binds that know each other.
func pair(t testing.TB, an, bn string, lazy bool) (*node, *node) {
	binds := bindtest.NewChannelBinds()
	var nodes [2]*node
	for i, name := range []string{an, bn} {
		priv, _ := wgtypes.GeneratePrivateKey()
		nb, err := netpath.New(binds[i], netpath.Options{PrivateKey: priv})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = startNodeWith(t, name, nb, fmt.Sprintf("100.64.0.%d", i+1), Config{Lazy: lazy, PrivateKey: priv})
	}
	a, b := nodes[0], nodes[1]
	for _, x := range [][2]*node{{a, b}, {b, a}} {
		if err := x[0].t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{x[1].peer}}); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// simulatedPeers returns n peers with random keys, half with an
// endpoint, as a server's full map would carry them.
func simulatedPeers(tb testing.TB, n int) []wire.Peer {
	ps := make([]wire.Peer, n)
	for i := range ps {
		k, _ := wgtypes.GeneratePrivateKey()
		ps[i] = wire.Peer{ID: fmt.Sprintf("m_%06d", i), Name: fmt.Sprintf("host-%d", i), PublicKey: k.PublicKey().String(),
			AllowedIPs: []string{netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)}).String() + "/32"}}
		if i%2 == 0 {
			ps[i].Endpoints = []string{fmt.Sprintf("192.0.2.%d:51820", i%250+1)}
		}
	}
	return ps
}

// BenchmarkApply times applying a 5,000-peer full map to a lazy tunnel
// (the start-up and reconnect case) and a one-peer delta against it (the
// steady state), and reports the heap each full map leaves behind per
// peer.
//
//	go test -run '^$' -bench Apply -benchmem ./agent/internal/tunnel/
func BenchmarkApply(b *testing.B) {
	const n = 5000
	peers := simulatedPeers(b, n)
	newTunnel := func(b *testing.B) *node {
		binds := bindtest.NewChannelBinds()
		priv, _ := wgtypes.GeneratePrivateKey()
		nb, err := netpath.New(binds[0], netpath.Options{PrivateKey: priv})
		if err != nil {
			b.Fatal(err)
		}
		return startNodeWith(b, "wfl-apply", nb, "100.64.0.1", Config{Lazy: true, PrivateKey: priv})
	}
	b.Run("full", func(b *testing.B) {
		a := newTunnel(b)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := a.t.Apply(wire.NetMap{Version: uint64(i + 1), Full: true, Peers: peers}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "retained-B/peer")
	})
	b.Run("delta", func(b *testing.B) {
		a := newTunnel(b)
		if err := a.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: peers}); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			p := peers[i%n]
			p.Endpoints = []string{fmt.Sprintf("198.51.100.%d:%d", i%250+1, 1024+i%60000)}
			if err := a.t.Apply(wire.NetMap{Version: uint64(i + 2), Changed: []wire.Peer{p}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Warm configures an idle peer and handshakes with it without a packet
// of traffic: a route's standby is ready before the primary fails.
func TestWarmHandshakesWithAnIdlePeer(t *testing.T) {
	binds := bindtest.NewChannelBinds()
	var nodes [2]*node
	for i, name := range []string{"wfw-a", "wfw-b"} {
		priv, _ := wgtypes.GeneratePrivateKey()
		nb, err := netpath.New(binds[i], netpath.Options{PrivateKey: priv})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = startNodeWith(t, name, nb, fmt.Sprintf("100.64.0.%d", i+1), Config{Lazy: true, PrivateKey: priv})
	}
	a, b := nodes[0], nodes[1]
	for _, n := range []struct{ self, other *node }{{a, b}, {b, a}} {
		if err := n.self.t.Apply(wire.NetMap{Version: 1, Full: true, Peers: []wire.Peer{n.other.peer}}); err != nil {
			t.Fatal(err)
		}
	}
	if ks := deviceKeys(t, a); len(ks) != 0 {
		t.Fatalf("configured before warming: %v", ks)
	}
	a.t.Warm([]string{b.peer.ID, "nonesuch"})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := peerKeys(t, a)[b.peer.PublicKey]; st.State == "active" && !st.LastHandshake.IsZero() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after Warm: %+v, want active with a handshake", peerKeys(t, a)[b.peer.PublicKey])
}

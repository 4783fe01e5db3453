// Package tunnel runs the agent's WireGuard interface: a wireguard-go
// device on a TUN interface (wf0; utun on macOS; Wintun on Windows), its
// overlay addresses and route, and a UAPI socket so that `wg show` and
// wgctrl can read it. Network maps are applied to the running device peer by
// peer; the device is never recreated for a peer change.
//
// The portable part lives here; addresses, routes and the UAPI listener are
// in tunnel_{linux,darwin,windows}.go behind configureInterface and
// listenUAPI.
package tunnel

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Config describes the interface to bring up.
type Config struct {
	Name       string   // interface name: wf0 (Linux, Windows), utun (macOS)
	MTU        int      // default 1280
	ListenPort int      // UDP port; 0 picks one
	PrivateKey [32]byte // never logged
	Self       wire.Self
}

// Tunnel is a running WireGuard interface.
type Tunnel struct {
	log       *slog.Logger
	tun       tun.Device
	dev       *device.Device
	uapi      net.Listener
	name      string
	keepalive int

	mu    sync.Mutex
	peers map[string]wire.Peer // by peer ID
	self  wire.Self
}

// Up creates the interface, configures its key, port and addresses, and
// starts serving UAPI. The caller applies peers with Apply.
func Up(cfg Config, log *slog.Logger) (*Tunnel, error) {
	if cfg.MTU == 0 {
		cfg.MTU = 1280
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	tdev, err := tun.CreateTUN(cfg.Name, cfg.MTU)
	if err != nil {
		return nil, fmt.Errorf("tunnel: create TUN %s: %w", cfg.Name, err)
	}
	name, err := tdev.Name()
	if err != nil {
		tdev.Close()
		return nil, fmt.Errorf("tunnel: TUN name: %w", err)
	}
	wglog := &device.Logger{
		Verbosef: func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...), "iface", name) },
		Errorf:   func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...), "iface", name) },
	}
	dev := device.NewDevice(tdev, conn.NewDefaultBind(), wglog)
	t := &Tunnel{log: log, tun: tdev, dev: dev, name: name, keepalive: cfg.Self.Keepalive, peers: map[string]wire.Peer{}, self: cfg.Self}
	conf := fmt.Sprintf("private_key=%s\nlisten_port=%d\n", hex.EncodeToString(cfg.PrivateKey[:]), cfg.ListenPort)
	if err := dev.IpcSet(conf); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: configure device: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: bring device up: %w", err)
	}
	if err := configureInterface(name, cfg.MTU, addrsOf(cfg.Self)); err != nil {
		dev.Close()
		return nil, fmt.Errorf("tunnel: configure %s: %w", name, err)
	}
	t.uapi, err = listenUAPI(name)
	if err != nil {
		log.Warn("tunnel: UAPI socket unavailable; `wg show` will not see the interface", "iface", name, "err", err)
	} else {
		go t.serveUAPI()
	}
	return t, nil
}

func (t *Tunnel) serveUAPI() {
	for {
		c, err := t.uapi.Accept()
		if err != nil {
			return
		}
		go t.dev.IpcHandle(c)
	}
}

// addrsOf returns the interface addresses: each overlay address with the
// overlay prefix length, so the kernel routes the whole overlay to us.
func addrsOf(s wire.Self) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range [][2]string{{s.IPv4, s.Prefix4}, {s.IPv6, s.Prefix6}} {
		a, err1 := netip.ParseAddr(p[0])
		pfx, err2 := netip.ParsePrefix(p[1])
		if err1 == nil && err2 == nil {
			out = append(out, netip.PrefixFrom(a, pfx.Bits()))
		}
	}
	return out
}

// Name returns the interface's name (on macOS the kernel picks utunN).
func (t *Tunnel) Name() string { return t.name }

// ListenPort returns the UDP port the device listens on.
func (t *Tunnel) ListenPort() int {
	st, err := t.dev.IpcGet()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(st, "\n") {
		if v, ok := strings.CutPrefix(line, "listen_port="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func hexKey(b64 string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("tunnel: bad public key %q", b64)
	}
	return hex.EncodeToString(b), nil
}

// Apply brings the device's peers in line with a network map: a full map
// replaces the peer set (peers absent from it are removed), a delta adds,
// changes and removes the peers it names. Peers not mentioned are not
// touched, so their sessions survive.
func (t *Tunnel) Apply(nm wire.NetMap) error {
	if nm.Unchanged {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	next := make(map[string]wire.Peer, len(t.peers))
	for id, p := range t.peers {
		next[id] = p
	}
	upserts := append(append([]wire.Peer{}, nm.Added...), nm.Changed...)
	removed := append([]string{}, nm.Removed...)
	if nm.Full {
		upserts = nm.Peers
		keep := make(map[string]bool, len(nm.Peers))
		for _, p := range nm.Peers {
			keep[p.ID] = true
		}
		for id := range t.peers {
			if !keep[id] {
				removed = append(removed, id)
			}
		}
	}
	for _, id := range removed {
		old, ok := next[id]
		if !ok {
			continue
		}
		hk, err := hexKey(old.PublicKey)
		if err == nil {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", hk)
		}
		delete(next, id)
	}
	for _, p := range upserts {
		hk, err := hexKey(p.PublicKey)
		if err != nil {
			t.log.Warn("tunnel: skipping peer with a bad key", "peer", p.ID)
			continue
		}
		if old, ok := next[p.ID]; ok && old.PublicKey != p.PublicKey {
			if ok2, err := hexKey(old.PublicKey); err == nil {
				fmt.Fprintf(&b, "public_key=%s\nremove=true\n", ok2) // re-keyed peer
			}
		}
		fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\n", hk)
		for _, a := range p.AllowedIPs {
			if _, err := netip.ParsePrefix(a); err == nil {
				fmt.Fprintf(&b, "allowed_ip=%s\n", a)
			}
		}
		if ep := pickEndpoint(p.Endpoints); ep != "" {
			fmt.Fprintf(&b, "endpoint=%s\n", ep)
		}
		if t.keepalive > 0 {
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", t.keepalive)
		}
		next[p.ID] = p
	}
	if nm.Self != nil {
		t.self = *nm.Self
	}
	if b.Len() > 0 {
		if err := t.dev.IpcSet(b.String()); err != nil {
			return fmt.Errorf("tunnel: apply peers: %w", err)
		}
	}
	t.peers = next
	return nil
}

// pickEndpoint chooses the endpoint to configure. Without NAT traversal
// (later work) the first reachable-looking one wins: the agent lists its
// own interface addresses first and the server appends the address it
// observed.
func pickEndpoint(eps []string) string {
	for _, e := range eps {
		if ap, err := netip.ParseAddrPort(e); err == nil && !ap.Addr().IsLoopback() {
			return ap.String()
		}
	}
	return ""
}

// PeerStatus is what `status` shows of a peer.
type PeerStatus struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	PublicKey     string    `json:"public_key"`
	Endpoint      string    `json:"endpoint,omitempty"`
	AllowedIPs    []string  `json:"allowed_ips"`
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	RxBytes       int64     `json:"rx_bytes"`
	TxBytes       int64     `json:"tx_bytes"`
}

// Peers returns the device's peers with handshake times and byte counts,
// read through UAPI as `wg show` does.
func (t *Tunnel) Peers() ([]PeerStatus, error) {
	st, err := t.dev.IpcGet()
	if err != nil {
		return nil, fmt.Errorf("tunnel: read device: %w", err)
	}
	t.mu.Lock()
	byKey := make(map[string]wire.Peer, len(t.peers))
	for _, p := range t.peers {
		if hk, err := hexKey(p.PublicKey); err == nil {
			byKey[hk] = p
		}
	}
	t.mu.Unlock()
	var out []PeerStatus
	var cur *PeerStatus
	var sec, nsec int64
	flush := func() {
		if cur != nil {
			if sec > 0 {
				cur.LastHandshake = time.Unix(sec, nsec).UTC()
			}
			out = append(out, *cur)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(st))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "public_key":
			flush()
			p := byKey[v]
			kb, _ := hex.DecodeString(v)
			cur = &PeerStatus{ID: p.ID, Name: p.Name, PublicKey: base64.StdEncoding.EncodeToString(kb)}
			sec, nsec = 0, 0
		case "endpoint":
			if cur != nil {
				cur.Endpoint = v
			}
		case "allowed_ip":
			if cur != nil {
				cur.AllowedIPs = append(cur.AllowedIPs, v)
			}
		case "last_handshake_time_sec":
			sec, _ = strconv.ParseInt(v, 10, 64)
		case "last_handshake_time_nsec":
			nsec, _ = strconv.ParseInt(v, 10, 64)
		case "rx_bytes":
			if cur != nil {
				cur.RxBytes, _ = strconv.ParseInt(v, 10, 64)
			}
		case "tx_bytes":
			if cur != nil {
				cur.TxBytes, _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	flush()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Close removes the interface and stops the UAPI socket.
func (t *Tunnel) Close() error {
	var errs []error
	if t.uapi != nil {
		errs = append(errs, t.uapi.Close())
	}
	t.dev.Close() // closes the TUN too, which removes the interface
	return errors.Join(errs...)
}

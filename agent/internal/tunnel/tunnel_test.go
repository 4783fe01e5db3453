package tunnel

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

func key(t *testing.T) string {
	t.Helper()
	k, err := wgtypes.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().String()
}

// describe renders peer configs compactly for comparison.
func describe(cfgs []wgtypes.PeerConfig, names map[string]string) []string {
	var out []string
	for _, c := range cfgs {
		n := names[c.PublicKey.String()]
		switch {
		case c.Remove:
			out = append(out, "remove "+n)
		case c.UpdateOnly:
			out = append(out, fmt.Sprintf("update %s ep=%v ips=%d", n, c.Endpoint, len(c.AllowedIPs)))
		default:
			out = append(out, fmt.Sprintf("add %s ep=%v ips=%d", n, c.Endpoint, len(c.AllowedIPs)))
		}
	}
	return out
}

func TestPeerConfigs(t *testing.T) {
	ka, kb, kb2, kc := key(t), key(t), key(t), key(t)
	names := map[string]string{ka: "a", kb: "b", kb2: "b2", kc: "c"}
	peer := func(id, k string, eps ...string) wire.Peer {
		return wire.Peer{ID: id, Name: id, PublicKey: k, AllowedIPs: []string{"100.64.0.9/32", "fd00::9/128"}, Endpoints: eps}
	}
	set := func(ps ...wire.Peer) map[string]wire.Peer {
		m := map[string]wire.Peer{}
		for _, p := range ps {
			m[p.ID] = p
		}
		return m
	}
	a := peer("a", ka, "192.0.2.1:51820")
	b := peer("b", kb, "127.0.0.1:1", "192.0.2.2:51820") // loopback is skipped
	for _, tc := range []struct {
		name      string
		old, next map[string]wire.Peer
		want      []string
		bad       []string
	}{
		{"first map adds every peer", nil, set(a, b), []string{"add a ep=192.0.2.1:51820 ips=2", "add b ep=192.0.2.2:51820 ips=2"}, nil},
		{"the same map again changes nothing", set(a, b), set(a, b), nil, nil},
		{"a renamed peer changes nothing on the device", set(a), set(wire.Peer{ID: "a", Name: "new", PublicKey: ka, AllowedIPs: a.AllowedIPs, Endpoints: a.Endpoints}), nil, nil},
		{"a moved endpoint updates in place", set(a), set(peer("a", ka, "198.51.100.1:4000")), []string{"update a ep=198.51.100.1:4000 ips=2"}, nil},
		{"new allowed IPs update in place", set(a), set(wire.Peer{ID: "a", PublicKey: ka, AllowedIPs: []string{"100.64.0.9/32"}, Endpoints: a.Endpoints}), []string{"update a ep=192.0.2.1:51820 ips=1"}, nil},
		{"a re-keyed peer is removed and added", set(b), set(peer("b", kb2, "192.0.2.2:51820")), []string{"remove b", "add b2 ep=192.0.2.2:51820 ips=2"}, nil},
		{"removals come first", set(a, b), set(b, peer("c", kc)), []string{"remove a", "add c ep=<nil> ips=2"}, nil},
		{"everything removed", set(a, b), map[string]wire.Peer{}, []string{"remove a", "remove b"}, nil},
		{"a bad key is skipped and reported", nil, set(a, wire.Peer{ID: "x", PublicKey: "not-a-key"}), []string{"add a ep=192.0.2.1:51820 ips=2"}, []string{"x"}},
	} {
		cfgs, bad := PeerConfigs(tc.old, tc.next, 25*time.Second, nil)
		if got := describe(cfgs, names); !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(bad, tc.bad) {
			t.Errorf("%s:\n got %q bad %q\nwant %q bad %q", tc.name, got, bad, tc.want, tc.bad)
		}
		for _, c := range cfgs {
			if !c.Remove && (c.PersistentKeepaliveInterval == nil || *c.PersistentKeepaliveInterval != 25*time.Second || !c.ReplaceAllowedIPs) {
				t.Errorf("%s: %s lacks keepalive or replace_allowed_ips", tc.name, names[c.PublicKey.String()])
			}
		}
	}
}

func TestChooseBackends(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		kernel bool
		want   []string
		err    bool
	}{
		{"auto", true, []string{"kernel", "userspace"}, false},
		{"", true, []string{"kernel", "userspace"}, false},
		{"auto", false, []string{"userspace"}, false},
		{"kernel", true, []string{"kernel"}, false},
		{"kernel", false, nil, true},
		{"userspace", true, []string{"userspace"}, false},
		{"userspace", false, []string{"userspace"}, false},
		{"wireguard-nt", true, nil, true},
	} {
		got, err := ChooseBackends(tc.mode, tc.kernel)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ChooseBackends(%q, kernel=%v) = %v, %v; want %v (error %v)", tc.mode, tc.kernel, got, err, tc.want, tc.err)
		}
	}
}

// The lazy-peer index follows the map: host addresses and wider routes
// (longest prefix wins), re-keys, removals (an active peer removed from
// the map is no longer counted active).
func TestLazyIndex(t *testing.T) {
	ka, kb, kb2 := key(t), key(t), key(t)
	a := wire.Peer{ID: "a", PublicKey: ka, AllowedIPs: []string{"100.64.0.1/32", "fd00::1/128", "10.1.0.0/16"}}
	b := wire.Peer{ID: "b", PublicKey: kb, AllowedIPs: []string{"100.64.0.2/32", "10.1.2.0/24"}}
	x := newLazyIndex()
	x.update(nil, map[string]wire.Peer{"a": a, "b": b})
	look := func(ip string) string {
		if lp := x.lookup(netip.MustParseAddr(ip)); lp != nil {
			return lp.id
		}
		return ""
	}
	for ip, want := range map[string]string{"100.64.0.1": "a", "fd00::1": "a", "100.64.0.2": "b", "10.1.9.9": "a", "10.1.2.3": "b", "100.64.0.3": "", "10.2.0.1": ""} {
		if got := look(ip); got != want {
			t.Errorf("lookup %s = %q, want %q", ip, got, want)
		}
	}
	// b re-keys and loses its route; a is removed while active.
	x.byID["a"].active.Store(true)
	x.active = 1
	b2 := wire.Peer{ID: "b", PublicKey: kb2, AllowedIPs: []string{"100.64.0.2/32"}}
	x.update(map[string]wire.Peer{"a": a, "b": b}, map[string]wire.Peer{"b": b2})
	kb2k, _ := wgtypes.ParseKey(kb2)
	kbk, _ := wgtypes.ParseKey(kb)
	if x.byKey[kb2k] == nil || x.byKey[kbk] != nil {
		t.Error("re-keyed peer not found by its new key only")
	}
	for ip, want := range map[string]string{"100.64.0.1": "", "10.1.9.9": "", "10.1.2.3": "", "100.64.0.2": "b"} {
		if got := look(ip); got != want {
			t.Errorf("after the change, lookup %s = %q, want %q", ip, got, want)
		}
	}
	if x.active != 0 || len(x.routes) != 0 {
		t.Errorf("active %d routes %d after removing the active peer and the routes", x.active, len(x.routes))
	}
}

func TestDstAddr(t *testing.T) {
	v4 := make([]byte, 20)
	v4[0] = 0x45
	copy(v4[16:], []byte{100, 64, 0, 7})
	v6 := make([]byte, 40)
	v6[0] = 0x60
	v6[24], v6[39] = 0xfd, 7
	for _, tc := range []struct {
		pkt  []byte
		want string
	}{{v4, "100.64.0.7"}, {v6, "fd00::7"}, {v4[:19], ""}, {nil, ""}, {[]byte{0x70}, ""}} {
		got, ok := dstAddr(tc.pkt)
		if (tc.want == "") == ok || ok && got.String() != tc.want {
			t.Errorf("dstAddr(% x) = %v %v, want %q", tc.pkt, got, ok, tc.want)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	l := &logLimiter{every: time.Minute, byFormat: map[string]*limitedLine{}}
	t0 := time.Now()
	const f = "%v - Failed to send handshake initiation: %v"
	if ok, n := l.allow(f, t0); !ok || n != 0 {
		t.Fatal("first line suppressed")
	}
	for i := range 99 {
		if ok, _ := l.allow(f, t0.Add(time.Duration(i)*time.Millisecond)); ok {
			t.Fatal("a repeat within the interval got through")
		}
	}
	if ok, _ := l.allow("%v - other", t0); !ok {
		t.Fatal("another kind of line was suppressed")
	}
	if ok, n := l.allow(f, t0.Add(time.Minute)); !ok || n != 99 {
		t.Fatalf("after the interval: %v, %d suppressed; want true, 99", ok, n)
	}
}

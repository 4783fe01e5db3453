package routes

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetns runs f in a new network namespace on a locked thread: the
// routes, sysctls and nftables it touches are the namespace's own.
func inNetns(t *testing.T, f func()) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace (CI runs as root)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the namespace
		orig, err := netns.Get()
		if err != nil {
			t.Error(err)
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			t.Error(err)
			return
		}
		defer ns.Close()
		f()
	}()
	<-done
}

// The Linux system for real: routes through netlink (marked with our
// protocol), a route of the machine's own seen as existing, forwarding
// turned on and back off, the nftables table added and removed.
func TestLinuxSystemInANamespace(t *testing.T) {
	inNetns(t, func() {
		// A veth pair stands in for the tunnel and the LAN (veth is in
		// every kernel the e2e tests run on; dummy is not).
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wft0"}, PeerName: "lan0"}); err != nil {
			t.Error(err)
			return
		}
		for _, name := range []string{"wft0", "lan0"} {
			l, _ := netlink.LinkByName(name)
			netlink.LinkSetUp(l)
		}
		lan, _ := netlink.LinkByName("lan0")
		_, own, _ := net.ParseCIDR("192.168.1.0/24")
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: lan.Attrs().Index, Dst: own}); err != nil {
			t.Error(err)
			return
		}
		s := NewSystem()
		p := netip.MustParsePrefix("10.20.0.0/16")
		if err := s.AddRoute("wft0", p); err != nil {
			t.Errorf("add: %v", err)
			return
		}
		rs, _ := netlink.RouteList(nil, netlink.FAMILY_V4)
		found := false
		for _, r := range rs {
			if r.Dst != nil && r.Dst.String() == "10.20.0.0/16" {
				found = r.Protocol == rtProto
			}
		}
		if !found {
			t.Errorf("route not installed with protocol %d: %v", rtProto, rs)
		}
		if s.Existing("wft0", p) {
			t.Error("our own route counted as the machine's")
		}
		if !s.Existing("wft0", netip.MustParsePrefix("192.168.1.0/24")) {
			t.Error("the machine's own LAN route not seen")
		}
		if err := s.DelRoute("wft0", p); err != nil {
			t.Errorf("delete: %v", err)
		}
		if err := s.DelRoute("wft0", p); err != nil {
			t.Errorf("deleting a route already gone: %v", err)
		}

		u, err := s.Forward("wft0", true)
		if err != nil {
			t.Errorf("forward: %v", err)
			return
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "1" || u.IPv4Forward != "0" {
			t.Errorf("ip_forward %q, recorded before %q", b, u.IPv4Forward)
		}
		c, _ := nftables.New()
		chains, _ := c.ListChains()
		var names []string
		for _, ch := range chains {
			if ch.Table.Name == tableName {
				names = append(names, ch.Name)
			}
		}
		if strings.Join(names, ",") != "forward,postrouting" {
			t.Errorf("chains in %s: %v", tableName, names)
		}
		if err := s.Unforward(u); err != nil {
			t.Errorf("unforward: %v", err)
		}
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(string(b)) != "0" {
			t.Errorf("ip_forward after: %q", b)
		}
		tables, _ := c.ListTables()
		for _, tb := range tables {
			if tb.Name == tableName {
				t.Error("the table outlived Unforward")
			}
		}
		if err := s.Unforward(u); err != nil {
			t.Errorf("a second unforward: %v", err)
		}
	})
}

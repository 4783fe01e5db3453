package tunnel

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// The commands that configure the interface where there is no netlink.
// They are built here, on every OS, so that tests on Linux check what
// macOS and Windows are asked to do; tunnel_darwin.go and
// tunnel_windows.go run them.

// darwinSetup is ifconfig and route, as wireguard-go's own wg-quick does
// it on macOS: the MTU, each address as an alias (IPv4 point-to-point to
// itself, IPv6 /128), a route for each overlay prefix to the interface,
// then up.
func darwinSetup(name string, mtu int, addrs []netip.Prefix) []oscmd.Cmd {
	cmds := []oscmd.Cmd{{Name: "/sbin/ifconfig", Args: []string{name, "mtu", strconv.Itoa(mtu)}}}
	for _, a := range addrs {
		if a.Addr().Is4() {
			cmds = append(cmds, oscmd.Cmd{Name: "/sbin/ifconfig", Args: []string{name, "inet", a.Addr().String() + "/32", a.Addr().String(), "alias"}})
		} else {
			cmds = append(cmds, oscmd.Cmd{Name: "/sbin/ifconfig", Args: []string{name, "inet6", a.Addr().String(), "prefixlen", "128", "alias"}})
		}
		fam := "-inet"
		if a.Addr().Is6() {
			fam = "-inet6"
		}
		cmds = append(cmds, oscmd.Cmd{Name: "/sbin/route", Args: []string{"-q", "-n", "add", fam, a.Masked().String(), "-interface", name}})
	}
	return append(cmds, oscmd.Cmd{Name: "/sbin/ifconfig", Args: []string{name, "up"}})
}

// windowsSetup is netsh: the MTU of both families, then each address
// with the overlay's prefix length (so Windows routes the overlay to the
// interface). winipcfg (golang.zx2c4.com/wireguard/windows) would be the
// native route, but that module does not resolve through the module
// proxy available to this project (one of its dependencies is refused).
func windowsSetup(name string, mtu int, addrs []netip.Prefix) []oscmd.Cmd {
	var cmds []oscmd.Cmd
	for _, fam := range []string{"ipv4", "ipv6"} {
		cmds = append(cmds, oscmd.Cmd{Name: "netsh", Args: []string{"interface", fam, "set", "subinterface", name, "mtu=" + strconv.Itoa(mtu), "store=active"}})
	}
	for _, a := range addrs {
		if a.Addr().Is4() {
			mask := net.IP(net.CIDRMask(a.Bits(), 32)).String()
			cmds = append(cmds, oscmd.Cmd{Name: "netsh", Args: []string{"interface", "ipv4", "add", "address", name, a.Addr().String(), mask, "store=active"}})
		} else {
			cmds = append(cmds, oscmd.Cmd{Name: "netsh", Args: []string{"interface", "ipv6", "add", "address", name, a.String(), "store=active"}})
		}
	}
	return cmds
}

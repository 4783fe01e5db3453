package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName is the interface name on Linux.
const DefaultName = "wf0"

// configureInterface sets the MTU, assigns the overlay addresses (whose
// prefix lengths make the kernel route the whole overlay here) and brings
// the link up, through netlink. On a host where IPv6 is off (many servers
// set net.ipv6.conf.all.disable_ipv6=1, or boot with ipv6.disable=1) the
// kernel refuses the IPv6 address with EACCES: the tunnel then comes up
// with its IPv4 address alone, and v6Off says so.
func configureInterface(name string, mtu int, addrs []netip.Prefix) (v6Off bool, err error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return false, fmt.Errorf("find link: %w", err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return false, fmt.Errorf("set MTU: %w", err)
	}
	for _, a := range addrs {
		if a.Addr().Is6() && ipv6Disabled(name) {
			v6Off = true
			continue
		}
		ipn := &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}
		addr := &netlink.Addr{IPNet: ipn}
		if a.Addr().Is6() {
			addr.Flags = 0x02 // IFA_F_NODAD: the overlay is point-to-point, no duplicate detection delay
		}
		if err := netlink.AddrReplace(link, addr); err != nil {
			if a.Addr().Is6() && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EAFNOSUPPORT)) {
				v6Off = true
				continue
			}
			return v6Off, fmt.Errorf("add address %s: %w", a, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return v6Off, fmt.Errorf("set link up: %w", err)
	}
	return v6Off, nil
}

// ipv6Disabled reports whether the kernel has IPv6 off for the interface:
// not there at all (/proc/sys/net/ipv6 missing: ipv6.disable=1), or
// disabled by sysctl for it or for all interfaces.
func ipv6Disabled(name string) bool {
	if _, err := os.Stat("/proc/sys/net/ipv6"); errors.Is(err, fs.ErrNotExist) {
		return true
	}
	for _, p := range []string{"/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6", "/proc/sys/net/ipv6/conf/all/disable_ipv6"} {
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "1" {
			return true
		}
	}
	return false
}

// listenUAPI opens /var/run/wireguard/<name>.sock.
func listenUAPI(name string) (net.Listener, error) {
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		return nil, err
	}
	return ipc.UAPIListen(name, f)
}

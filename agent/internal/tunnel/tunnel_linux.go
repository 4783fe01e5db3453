package tunnel

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName is the interface name on Linux.
const DefaultName = "wf0"

// configureInterface sets the MTU, assigns the overlay addresses (whose
// prefix lengths make the kernel route the whole overlay here) and brings
// the link up, through netlink.
func configureInterface(name string, mtu int, addrs []netip.Prefix) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link: %w", err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("set MTU: %w", err)
	}
	for _, a := range addrs {
		ipn := &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}
		addr := &netlink.Addr{IPNet: ipn}
		if a.Addr().Is6() {
			addr.Flags = 0x02 // IFA_F_NODAD: the overlay is point-to-point, no duplicate detection delay
		}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", a, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set link up: %w", err)
	}
	return nil
}

// listenUAPI opens /var/run/wireguard/<name>.sock.
func listenUAPI(name string) (net.Listener, error) {
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		return nil, err
	}
	return ipc.UAPIListen(name, f)
}

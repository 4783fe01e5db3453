package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"

	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName asks the kernel for the next free utunN.
const DefaultName = "utun"

// configureInterface uses ifconfig and route: macOS has no netlink, and
// these tools are what wireguard-go's own wg-quick uses there.
func configureInterface(name string, mtu int, addrs []netip.Prefix) (v6Off bool, err error) {
	if out, err := exec.Command("/sbin/ifconfig", name, "mtu", strconv.Itoa(mtu)).CombinedOutput(); err != nil {
		return false, fmt.Errorf("ifconfig mtu: %w: %s", err, out)
	}
	for _, a := range addrs {
		var args []string
		if a.Addr().Is4() {
			args = []string{name, "inet", a.Addr().String() + "/32", a.Addr().String(), "alias"}
		} else {
			args = []string{name, "inet6", a.Addr().String(), "prefixlen", "128", "alias"}
		}
		if out, err := exec.Command("/sbin/ifconfig", args...).CombinedOutput(); err != nil {
			return false, fmt.Errorf("ifconfig %v: %w: %s", args, err, out)
		}
		fam := "-inet"
		if a.Addr().Is6() {
			fam = "-inet6"
		}
		if out, err := exec.Command("/sbin/route", "-q", "-n", "add", fam, a.Masked().String(), "-interface", name).CombinedOutput(); err != nil {
			return false, fmt.Errorf("route add %s: %w: %s", a.Masked(), err, out)
		}
	}
	if out, err := exec.Command("/sbin/ifconfig", name, "up").CombinedOutput(); err != nil {
		return false, fmt.Errorf("ifconfig up: %w: %s", err, out)
	}
	return false, nil
}

// listenUAPI opens /var/run/wireguard/<name>.sock.
func listenUAPI(name string) (net.Listener, error) {
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		return nil, err
	}
	return ipc.UAPIListen(name, f)
}

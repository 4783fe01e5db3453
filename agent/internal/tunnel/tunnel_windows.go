package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"

	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName is the Wintun adapter name (wintun.dll ships beside the exe).
const DefaultName = "wf0"

// configureInterface uses netsh. winipcfg (golang.zx2c4.com/wireguard/windows)
// would be the native route, but that module does not resolve through the
// module proxy available to this project (one of its dependencies is
// refused), so the agent uses the system tool.
func configureInterface(name string, mtu int, addrs []netip.Prefix) (v6Off bool, err error) {
	for _, fam := range []string{"ipv4", "ipv6"} {
		if out, err := exec.Command("netsh", "interface", fam, "set", "subinterface", name, "mtu="+strconv.Itoa(mtu), "store=active").CombinedOutput(); err != nil {
			return false, fmt.Errorf("netsh mtu: %w: %s", err, out)
		}
	}
	for _, a := range addrs {
		var args []string
		if a.Addr().Is4() {
			mask := net.IP(net.CIDRMask(a.Bits(), 32)).String()
			args = []string{"interface", "ipv4", "add", "address", name, a.Addr().String(), mask, "store=active"}
		} else {
			args = []string{"interface", "ipv6", "add", "address", name, a.String(), "store=active"}
		}
		if out, err := exec.Command("netsh", args...).CombinedOutput(); err != nil {
			return false, fmt.Errorf("netsh %v: %w: %s", args, err, out)
		}
	}
	return false, nil
}

// listenUAPI opens \\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>,
// a pipe only SYSTEM and Administrators can open.
func listenUAPI(name string) (net.Listener, error) {
	return ipc.UAPIListen(name)
}

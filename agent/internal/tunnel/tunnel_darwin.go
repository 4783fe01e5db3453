package tunnel

import (
	"net"
	"net/netip"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName asks the kernel for the next free utunN.
const DefaultName = "utun"

// configureInterface runs the commands darwinSetup builds.
func configureInterface(name string, mtu int, addrs []netip.Prefix) (v6Off bool, err error) {
	return false, oscmd.RunAll(oscmd.System, darwinSetup(name, mtu, addrs))
}

// listenUAPI opens /var/run/wireguard/<name>.sock.
func listenUAPI(name string) (net.Listener, error) {
	f, err := ipc.UAPIOpen(name)
	if err != nil {
		return nil, err
	}
	return ipc.UAPIListen(name, f)
}

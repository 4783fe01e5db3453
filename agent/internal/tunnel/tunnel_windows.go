package tunnel

import (
	"net"
	"net/netip"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
	"golang.zx2c4.com/wireguard/ipc"
)

// DefaultName is the Wintun adapter name (wintun.dll ships beside the exe).
const DefaultName = "wf0"

// configureInterface runs the commands windowsSetup builds.
func configureInterface(name string, mtu int, addrs []netip.Prefix) (v6Off bool, err error) {
	return false, oscmd.RunAll(oscmd.System, windowsSetup(name, mtu, addrs))
}

// listenUAPI opens \\.\pipe\ProtectedPrefix\Administrators\WireGuard\<name>,
// a pipe only SYSTEM and Administrators can open.
func listenUAPI(name string) (net.Listener, error) {
	return ipc.UAPIListen(name)
}

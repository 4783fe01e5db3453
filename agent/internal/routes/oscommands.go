package routes

import (
	"encoding/binary"
	"net/netip"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// What the systems without netlink are asked, built on every OS so that
// tests on Linux check it.

// darwinRoute is route(8) adding or deleting p on the tunnel interface,
// as the overlay's own routes are added (tunnel.darwinSetup).
func darwinRoute(verb, iface string, p netip.Prefix) oscmd.Cmd {
	fam := "-inet"
	if p.Addr().Is6() {
		fam = "-inet6"
	}
	return oscmd.Cmd{Name: "/sbin/route", Args: []string{"-q", "-n", verb, fam, p.String(), "-interface", iface}}
}

// sockaddrInet lays out an address as Windows' SOCKADDR_INET after its
// family and port: IPv4 in the first four bytes; IPv6 after the four of
// its flow info. Data is what x/sys/windows calls RawSockaddrInet.Data.
func sockaddrInet(a netip.Addr) (family uint16, data [24]byte) {
	if a.Is4() {
		b := a.As4()
		copy(data[:4], b[:])
		return 2, data // AF_INET
	}
	b := a.As16()
	copy(data[4:20], b[:])
	binary.LittleEndian.PutUint32(data[20:24], 0) // scope ID
	return 23, data                               // AF_INET6
}

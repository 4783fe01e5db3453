package sshd

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindToDevice binds the listener to the tunnel interface: a connection
// to the overlay address that arrives any other way (a spoofed source on
// the LAN) never reaches the server.
func bindToDevice(iface string) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
		})
		return errors.Join(err, serr)
	}
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

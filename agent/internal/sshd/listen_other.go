//go:build !linux

package sshd

import (
	"errors"
	"syscall"
)

// bindToDevice: only Linux binds a socket to an interface; elsewhere the
// source address is checked against the map alone.
func bindToDevice(string) func(network, address string, c syscall.RawConn) error { return nil }

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

//go:build !linux

package client

import "syscall"

// setUserTimeout: TCP_USER_TIMEOUT is Linux's; elsewhere keep-alive probes
// and HTTP/2 pings detect a vanished server.
func setUserTimeout(_, _ string, _ syscall.RawConn) error { return nil }

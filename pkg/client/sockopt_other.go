//go:build !linux

package client

import "syscall"

// setUserTimeout: TCP_USER_TIMEOUT is Linux's; elsewhere keep-alive probes
// and HTTP/2 pings detect a vanished server.
func setUserTimeout(_, _ string, _ syscall.RawConn) error { return nil }

// setMark: SO_MARK is Linux's; elsewhere the agent keeps its connections
// out of the tunnel with routes of their own.
func setMark(_ syscall.RawConn, _ uint32) error { return nil }

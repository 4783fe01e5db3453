// Package remoteaddr is the one place the server reads a request's
// source address: rate limits, the audit log and the phishing warning on
// enrollment pages all key on it. It is the TCP peer; deployments behind
// a proxy see the proxy's address (the server trusts no forwarded header,
// which any client could forge).
package remoteaddr

import (
	"net"
	"net/http"
	"net/netip"
)

// IP returns the request's source IP as text (RemoteAddr itself when it
// has no port, as with a Unix socket's "@").
func IP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Addr returns the request's source address, or the zero Addr.
func Addr(r *http.Request) netip.Addr {
	a, _ := netip.ParseAddr(IP(r))
	return a
}

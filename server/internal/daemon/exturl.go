package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// hostEnv is what externalURL asks of the machine; tests replace it.
type hostEnv struct {
	hostname func() (string, error)
	lookup   func(host string) ([]netip.Addr, error)
	addrs    func() ([]netip.Addr, error) // the interfaces' addresses
}

// systemHost is the real machine.
var systemHost = hostEnv{
	hostname: os.Hostname,
	lookup: func(host string) ([]netip.Addr, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	},
	addrs: func() ([]netip.Addr, error) {
		as, err := net.InterfaceAddrs()
		if err != nil {
			return nil, err
		}
		var out []netip.Addr
		for _, a := range as {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				out = append(out, p.Addr())
			}
		}
		return out, nil
	},
}

// externalURL returns the URL agents should use, its host part, and a
// note when the choice is worth telling the operator.
//
// Without --external-url and listening on every address, the URL names
// the machine by its host name. On many machines that name resolves only
// to loopback (Debian's /etc/hosts maps it to 127.0.1.1), and every other
// machine given the one-liners then got "connection refused" with no
// hint. So the name must resolve to an address other machines can use;
// if it does not, the first such address of this machine's interfaces is
// used instead, and the note says so and how to choose.
func externalURL(o Options, addr net.Addr, env hostEnv) (extURL, host, note string) {
	if o.ExternalURL != "" {
		if u, err := url.Parse(o.ExternalURL); err == nil {
			return o.ExternalURL, u.Hostname(), ""
		}
	}
	scheme := "https"
	if o.InsecureHTTP {
		scheme = "http"
	}
	host, port, _ := net.SplitHostPort(addr.String())
	if len(o.ACME.Domains) > 0 {
		// The name the certificate is for; port 443 goes without saying
		// (the CA validates there).
		host = strings.ToLower(strings.TrimSpace(o.ACME.Domains[0]))
		if port == "443" {
			return scheme + "://" + host, host, ""
		}
		return scheme + "://" + net.JoinHostPort(host, port), host, ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
		if h, err := env.hostname(); err == nil && h != "" {
			host = h
		}
		if ip, why := reachableInstead(host, env); ip.IsValid() {
			note = fmt.Sprintf("the host name %q %s, which other machines cannot use: the one-liners use %s instead. "+
				"To choose the address, start the server with --external-url https://NAME-OR-IP:%s (make run EXTERNAL_URL=…)", host, why, ip, port)
			host = ip.String()
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port), host, note
}

// reachableInstead returns an address of this machine to use in place of
// host when host resolves only to loopback or not at all (with what it
// resolved to), or the zero Addr when host is fine or nothing better
// exists.
func reachableInstead(host string, env hostEnv) (netip.Addr, string) {
	ips, err := env.lookup(host)
	var why string
	switch {
	case err != nil || len(ips) == 0:
		why = "does not resolve"
	default:
		if slices.ContainsFunc(ips, func(a netip.Addr) bool { return !a.Unmap().IsLoopback() }) {
			return netip.Addr{}, ""
		}
		var names []string
		for _, a := range ips {
			names = append(names, a.Unmap().String())
		}
		why = "resolves only to " + strings.Join(names, ", ") + " (loopback) on this machine"
	}
	own, _ := env.addrs()
	// IPv4 before IPv6 (easier to type, and what a LAN usually has); a
	// global unicast address, never loopback or link-local.
	for _, want4 := range []bool{true, false} {
		for _, a := range own {
			a = a.Unmap()
			if a.Is4() == want4 && a.IsGlobalUnicast() && !a.IsLinkLocalUnicast() {
				return a, why
			}
		}
	}
	return netip.Addr{}, ""
}

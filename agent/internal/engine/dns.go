package engine

import (
	"fmt"
	"net/netip"
	"sync"

	"github.com/wirefleet/wirefleet/agent/internal/dnsconfig"
	"github.com/wirefleet/wirefleet/agent/internal/resolver"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// DNSView is the DNS part of status.
type DNSView struct {
	Domain   string `json:"domain"`
	Resolver string `json:"resolver,omitempty"` // where the agent answers
	Names    int    `json:"names"`
	OS       string `json:"os,omitempty"` // how the OS was told (dnsconfig mode)
	Note     string `json:"note,omitempty"`
	Error    string `json:"error,omitempty"`
	Queries  uint64 `json:"queries"`
	Answered uint64 `json:"answered"`
	NXDomain uint64 `json:"nxdomain"`
	Refused  uint64 `json:"refused"`
}

// dnsRun is the fleet resolver and the OS configuration pointing at it.
type dnsRun struct {
	mu      sync.Mutex
	srv     resolver.Server
	applied dnsconfig.Config // what the OS was told ({} when nothing)
	os      string
	note    string
	err     string
}

// DNSPort is the port the fleet resolver listens on (on the overlay IPv4
// address); 53 unless set (tests).
func (e *Engine) dnsPort() uint16 {
	if e.DNSPort != 0 {
		return e.DNSPort
	}
	return 53
}

// syncDNS brings the resolver and the OS configuration in line with the
// map and the tunnel: names from the map, answered on the overlay address
// while the tunnel is up, the OS pointed at them. It is called after every
// map that changed something and whenever the tunnel comes or goes.
func (e *Engine) syncDNS() {
	if e.DNS == nil {
		return
	}
	e.mu.Lock()
	self := e.view.Self()
	var domain, iface string
	var hosts []resolver.Host
	var prefixes []netip.Prefix
	var ns netip.Addr
	var records []wire.DNSRecord
	if self != nil && self.DNSDomain != "" {
		domain, records = self.DNSDomain, self.DNSRecords
		e.view.Read(func(v *wire.View) {
			hosts = make([]resolver.Host, 0, len(v.Peers)+1)
			hosts = append(hosts, hostOf(self.Name, self.IPv4, self.IPv6))
			for _, p := range v.Peers {
				hosts = append(hosts, hostOf(p.Name, p.IPv4, p.IPv6))
			}
		})
		for _, s := range []string{self.Prefix4, self.Prefix6} {
			if p, err := netip.ParsePrefix(s); err == nil {
				prefixes = append(prefixes, p)
			}
		}
		ns, _ = netip.ParseAddr(self.IPv4)
	}
	if e.link.tun != nil {
		iface = e.link.tun.Name()
	}
	e.mu.Unlock()

	d := &e.dns
	d.mu.Lock()
	defer d.mu.Unlock()
	if domain == "" {
		e.stopDNSLocked("the server gives no DNS domain")
		return
	}
	z, err := resolver.NewZone(domain, prefixes, hosts, records...)
	if err != nil {
		d.err = err.Error()
		return
	}
	d.srv.SetZone(z)
	if iface == "" || !ns.IsValid() {
		e.stopDNSLocked("the tunnel is down")
		return
	}
	addr := netip.AddrPortFrom(ns, e.dnsPort())
	if d.srv.Addr() != addr {
		d.srv.Close()
		if err := d.srv.Listen(addr); err != nil {
			d.err = fmt.Sprintf("%v (is another DNS server listening on all addresses?)", err)
			e.Log.Error("DNS: the fleet resolver cannot listen", "addr", addr, "err", err)
			return
		}
	}
	c := dnsconfig.Config{Interface: iface, Nameserver: ns, Domain: z.Domain()}
	if d.applied == c {
		return // the same as before: nothing to tell the OS
	}
	rec, err := e.DNS.Apply(c)
	if err != nil {
		d.err = err.Error()
		e.Log.Error("DNS: cannot configure the system's resolver; fleet names answer only at the agent's address", "resolver", addr, "err", err)
		return
	}
	d.applied, d.os, d.note, d.err = c, rec.Mode, "", ""
}

// stopDNS stops answering and restores the OS's resolver configuration.
func (e *Engine) stopDNS(why string) {
	if e.DNS == nil {
		return
	}
	e.dns.mu.Lock()
	defer e.dns.mu.Unlock()
	e.stopDNSLocked(why)
}

func (e *Engine) stopDNSLocked(why string) {
	d := &e.dns
	if err := e.DNS.Restore(); err != nil {
		d.err = err.Error()
		e.Log.Error("DNS: restoring the system's resolver configuration", "err", err)
	} else {
		d.applied, d.os = dnsconfig.Config{}, ""
	}
	if err := d.srv.Close(); err != nil {
		e.Log.Warn("DNS: closing the fleet resolver", "err", err)
	}
	d.note = why
}

// dnsStatus is the DNS part of status (nil when names are off here).
func (e *Engine) dnsStatus() *DNSView {
	if e.DNS == nil {
		return nil
	}
	d := &e.dns
	d.mu.Lock()
	defer d.mu.Unlock()
	v := &DNSView{OS: d.os, Note: d.note, Error: d.err,
		Queries: d.srv.Queries.Load(), Answered: d.srv.Answered.Load(), NXDomain: d.srv.NXDomain.Load(), Refused: d.srv.Refused.Load()}
	if z := d.srv.Zone(); z != nil {
		v.Domain, v.Names = z.Domain(), z.Len()
	}
	if a := d.srv.Addr(); a.IsValid() {
		v.Resolver = a.String()
	}
	return v
}

// namesMove reports whether nm changes what the fleet
// resolver answers: a full map, Self (the domain, the admin's records, its
// own name), a peer added or removed, or a peer renamed or readdressed.
// Most deltas only move endpoints; they do not rebuild the zone. before
// holds the peers nm names as they were (mapview.View.Apply returns them).
func namesMove(before map[string]wire.Peer, nm wire.NetMap) bool {
	if nm.Full || nm.Self != nil || len(nm.Added)+len(nm.Removed) > 0 {
		return true
	}
	for _, p := range nm.Changed {
		old, ok := before[p.ID]
		if !ok || old.Name != p.Name || old.IPv4 != p.IPv4 || old.IPv6 != p.IPv6 {
			return true
		}
	}
	return false
}

func hostOf(name, v4, v6 string) resolver.Host {
	h := resolver.Host{Name: name}
	h.IPv4, _ = netip.ParseAddr(v4)
	h.IPv6, _ = netip.ParseAddr(v6)
	return h
}

package e2e

import (
	"strings"
	"testing"
	"time"
)

// A host with IPv6 disabled by sysctl (common on servers) still gets a
// tunnel: the kernel refuses the IPv6 overlay address with EACCES, and
// the agent comes up with its IPv4 address alone and says so in status.
// Before, it retried "add address fd…: permission denied" forever.
func TestIPv6DisabledHost(t *testing.T) {
	f := newFleet(t, 3)
	off := f.hosts[2]
	off.run(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	a := f.enroll(f.hosts[1], 1)
	b := f.enroll(off, 2)
	eventually(t, 20*time.Second, "the IPv6-less host reaching a peer over IPv4", func() bool { return off.ping(a.ipv4()) })
	if !f.hosts[1].ping(b.ipv4()) {
		t.Error("the peer cannot reach the IPv6-less host over IPv4")
	}
	addrs := off.run(t, "ip", "addr", "show", "dev", b.iface)
	if !strings.Contains(addrs, b.ipv4()+"/") || strings.Contains(addrs, b.ipv6()) {
		t.Errorf("addresses on %s:\n%s", b.iface, addrs)
	}
	st := off.run(t, bins+"/wirefleet-agent", "status", "--state-dir", b.dir)
	if !strings.Contains(st, "ipv6:") || !strings.Contains(st, "IPv4 only") || !strings.Contains(st, "tunnel:  up") && !strings.Contains(st, "up "+b.iface) {
		t.Errorf("status on the IPv6-less host:\n%s", st)
	}
	if strings.Contains(b.proc.output(), "permission denied") {
		t.Errorf("the agent still fails on the IPv6 address:\n%s", b.proc.output())
	}
}

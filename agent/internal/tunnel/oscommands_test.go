package tunnel

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

func lines(cmds []oscmd.Cmd) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.String())
	}
	return out
}

// What macOS and Windows are asked to run for an interface with both
// overlay addresses, checked here on any OS.
func TestInterfaceCommands(t *testing.T) {
	addrs := []netip.Prefix{netip.MustParsePrefix("100.64.0.7/10"), netip.MustParsePrefix("fd7a:1::7/48")}
	for _, tc := range []struct {
		os   string
		got  []oscmd.Cmd
		want []string
	}{
		{"darwin", darwinSetup("utun5", 1280, addrs), []string{
			"/sbin/ifconfig utun5 mtu 1280",
			"/sbin/ifconfig utun5 inet 100.64.0.7/32 100.64.0.7 alias",
			"/sbin/route -q -n add -inet 100.64.0.0/10 -interface utun5",
			"/sbin/ifconfig utun5 inet6 fd7a:1::7 prefixlen 128 alias",
			"/sbin/route -q -n add -inet6 fd7a:1::/48 -interface utun5",
			"/sbin/ifconfig utun5 up",
		}},
		{"windows", windowsSetup("wf0", 1280, addrs), []string{
			"netsh interface ipv4 set subinterface wf0 mtu=1280 store=active",
			"netsh interface ipv6 set subinterface wf0 mtu=1280 store=active",
			"netsh interface ipv4 add address wf0 100.64.0.7 255.192.0.0 store=active",
			"netsh interface ipv6 add address wf0 fd7a:1::7/48 store=active",
		}},
	} {
		t.Run(tc.os, func(t *testing.T) {
			if got := lines(tc.got); !slices.Equal(got, tc.want) {
				t.Fatalf("commands:\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

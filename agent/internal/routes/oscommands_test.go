package routes

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

func TestDarwinRoute(t *testing.T) {
	for _, tc := range []struct{ verb, p, want string }{
		{"add", "10.20.0.0/16", "/sbin/route -q -n add -inet 10.20.0.0/16 -interface utun7"},
		{"delete", "fd00:20::/64", "/sbin/route -q -n delete -inet6 fd00:20::/64 -interface utun7"},
	} {
		if got := darwinRoute(tc.verb, "utun7", netip.MustParsePrefix(tc.p)).String(); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.verb, tc.p, got, tc.want)
		}
	}
}

// SOCKADDR_INET as Windows lays it out after family and port.
func TestSockaddrInet(t *testing.T) {
	fam, d := sockaddrInet(netip.MustParseAddr("10.20.0.5"))
	if fam != 2 || d[0] != 10 || d[1] != 20 || d[2] != 0 || d[3] != 5 || strings.Trim(string(d[4:]), "\x00") != "" {
		t.Fatalf("IPv4: family %d data %v", fam, d)
	}
	fam, d = sockaddrInet(netip.MustParseAddr("fd00:20::1"))
	if fam != 23 || binary.BigEndian.Uint32(d[0:4]) != 0 || d[4] != 0xfd || d[5] != 0 || d[6] != 0 || d[7] != 0x20 || d[19] != 1 {
		t.Fatalf("IPv6: family %d data %v", fam, d)
	}
}

package remoteaddr

import (
	"net/http"
	"testing"
)

func TestIP(t *testing.T) {
	for _, tc := range []struct{ remote, ip, addr string }{
		{"192.0.2.7:51820", "192.0.2.7", "192.0.2.7"},
		{"[2001:db8::1]:443", "2001:db8::1", "2001:db8::1"},
		{"@", "@", "invalid IP"},
		{"", "", "invalid IP"},
	} {
		t.Run(tc.remote, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote}
			if got := IP(r); got != tc.ip {
				t.Errorf("IP = %q, want %q", got, tc.ip)
			}
			if got := Addr(r).String(); got != tc.addr {
				t.Errorf("Addr = %q, want %q", got, tc.addr)
			}
		})
	}
}

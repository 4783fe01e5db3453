package daemon

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestExternalURL(t *testing.T) {
	addrs := func(s ...string) func() ([]netip.Addr, error) {
		return func() ([]netip.Addr, error) {
			var out []netip.Addr
			for _, a := range s {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}
	}
	resolves := func(s ...string) func(string) ([]netip.Addr, error) {
		return func(string) ([]netip.Addr, error) {
			if len(s) == 0 {
				return nil, errors.New("no such host")
			}
			return addrs(s...)()
		}
	}
	own := addrs("127.0.0.1", "::1", "fe80::1", "10.1.2.3", "2001:db8::5")
	for _, tc := range []struct {
		name   string
		o      Options
		listen string
		env    hostEnv
		want   string
		noted  bool
	}{
		{name: "the name resolves to the LAN", listen: "0.0.0.0:8443",
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("10.1.2.3"), addrs: own},
			want: "https://wf:8443"},
		{name: "Debian's 127.0.1.1", listen: "[::]:8443",
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("127.0.1.1"), addrs: own},
			want: "https://10.1.2.3:8443", noted: true},
		{name: "the name does not resolve", listen: "0.0.0.0:8443", o: Options{InsecureHTTP: true},
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves(), addrs: own},
			want: "http://10.1.2.3:8443", noted: true},
		{name: "only IPv6 beside loopback", listen: "0.0.0.0:8443",
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("127.0.1.1"), addrs: addrs("127.0.0.1", "2001:db8::5")},
			want: "https://[2001:db8::5]:8443", noted: true},
		{name: "nothing better: keep the name", listen: "0.0.0.0:8443",
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("127.0.1.1"), addrs: addrs("127.0.0.1")},
			want: "https://wf:8443"},
		{name: "--external-url wins", listen: "0.0.0.0:8443", o: Options{ExternalURL: "https://wf.example.org"},
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("127.0.1.1"), addrs: own},
			want: "https://wf.example.org"},
		{name: "a listen address is kept", listen: "10.9.9.9:8443",
			env:  hostEnv{hostname: func() (string, error) { return "wf", nil }, lookup: resolves("127.0.1.1"), addrs: own},
			want: "https://10.9.9.9:8443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			got, _, note := externalURL(tc.o, a, tc.env)
			if got != tc.want || (note != "") != tc.noted {
				t.Fatalf("externalURL = %q (note %q), want %q (note: %v)", got, note, tc.want, tc.noted)
			}
			if tc.noted && (!strings.Contains(note, "--external-url") || !strings.Contains(note, "EXTERNAL_URL")) {
				t.Errorf("the note does not say how to choose: %q", note)
			}
		})
	}
}

package daemon

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadMeshKeys(t *testing.T) {
	const k1, k2 = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "c2l4dGVlbiBieXRlcyEhIXg="
	for _, tc := range []struct {
		name, text string
		mode       os.FileMode
		keys       int
		err        string
	}{
		{"one key", k1 + "\n", 0o600, 1, ""},
		{"two keys while rotating, comments", "# new\n" + k1 + "\n\n  " + k2 + "  \n", 0o600, 2, ""},
		{"readable by others", k1, 0o644, 0, "chmod 600"},
		{"empty", "\n# nothing\n", 0o600, 0, "holds no key"},
		{"too short", "c2hvcnQ=\n", 0o600, 0, "line 1"},
		{"not base64", k1 + "\nnot base64!\n", 0o600, 0, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mesh.key")
			if err := os.WriteFile(p, []byte(tc.text), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			keys, err := readMeshKeys(p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "not base64") {
					t.Fatalf("the error echoes the file's secret line: %v", err)
				}
				return
			}
			if err != nil || len(keys) != tc.keys {
				t.Fatalf("%d keys, %v; want %d", len(keys), err, tc.keys)
			}
		})
	}
}

func TestReplicaURL(t *testing.T) {
	env := hostEnv{addrs: func() ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("10.0.0.5")}, nil
	}}
	for _, tc := range []struct {
		name   string
		o      Options
		listen string
		want   string
	}{
		{"given", Options{ReplicaURL: "https://r1.internal:8443/"}, "0.0.0.0:8443", "https://r1.internal:8443"},
		{"the listener's own address", Options{}, "10.1.2.3:8443", "https://10.1.2.3:8443"},
		{"every address: the first IPv4 one", Options{}, "[::]:8443", "https://10.0.0.5:8443"},
		{"plain HTTP behind a proxy", Options{InsecureHTTP: true}, "0.0.0.0:8080", "http://10.0.0.5:8080"},
		{"not a URL", Options{ReplicaURL: "r1:8443"}, "0.0.0.0:8443", "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := net.ResolveTCPAddr("tcp", tc.listen)
			got, err := replicaURL(tc.o, addr, env)
			if err != nil {
				got = "error"
			}
			if got != tc.want {
				t.Fatalf("%q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

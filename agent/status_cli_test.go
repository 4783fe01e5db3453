package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/agent/internal/engine"
	"github.com/wirefleet/wirefleet/agent/internal/filter"
	"github.com/wirefleet/wirefleet/agent/internal/flags"
	"github.com/wirefleet/wirefleet/agent/internal/routes"
	"github.com/wirefleet/wirefleet/agent/internal/tunnel"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *updateGolden {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -run %s -update once)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", t.Name(), p, got, want)
	}
}

// The text and JSON forms of `status`, for a running agent with most of
// what status can say (a tunnel with two peers, a policy, names, flags, a
// key, the last update) and for an empty state directory.
func TestStatusOutput(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	sync := now.Add(-6 * time.Second)
	running := engine.Status{
		Enrolled: true, Running: true, Server: "https://10.99.0.1:8443", Machine: "web-1", MachineID: "m_abc",
		IPv4: "100.64.0.1", IPv6: "fd00::1", Interface: "wf0", Tunnel: "up", WireGuard: "userspace", IPv6Off: true,
		MapVer: 42, LastSync: &sync, Keystore: "systemd-creds", StateDir: "/var/lib/wirefleet", Version: "1.4.0", Channel: "stable",
		Update: engine.UpdateView{Last: &wire.UpdateStatus{From: "1.3.0", To: "1.4.0", State: "ok", At: now.Add(-48 * time.Hour)}},
		Flags:  &flags.Freshness{Source: "server", Version: 7, Flags: 3},
		Access: &engine.AccessView{Status: filter.Status{Enforced: true, Policy: 3, Rules: []string{"tag:laptop → tcp/22"}, Dropped: 5, Denied: 4, Unmatched: 1, Flows: 2}},
		DNS:    &engine.DNSView{Domain: "fleet.internal", Resolver: "100.64.0.1:53", Names: 2, OS: "resolv.conf", Queries: 9, Answered: 8, NXDomain: 1},
		Routes: &engine.RoutesView{Advertised: []string{"10.30.0.0/16", "10.40.0.0/16"}, Serving: []string{"10.30.0.0/16"}, SNAT: true, Using: []routes.Route{
			{Prefix: netip.MustParsePrefix("10.20.0.0/16"), Via: "m_b", ViaName: "db-1", Standby: []string{"m_d"}, Failover: true},
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Exit: true, Skipped: "no exit node chosen (--exit-node)"},
		}},
		Key: &engine.KeyView{PublicKey: "Eu/f7GBOn3Bb6v2JqOZlKloqcHZdsI/b1BZIoztU2nU=", CreatedAt: now.Add(-30 * 24 * time.Hour), RotateEvery: 90 * 24 * time.Hour},
		Peers: []tunnel.PeerStatus{
			{ID: "m_b", Name: "db-1", AllowedIPs: []string{"100.64.0.2/32", "fd00::2/128"}, Endpoint: "10.99.0.12:51820", LastHandshake: now.Add(-time.Second), RxBytes: 348, TxBytes: 404, Path: "direct", State: "active"},
			{ID: "m_c", Name: "laptop", AllowedIPs: []string{"100.64.0.3/32"}, Path: "relay", State: "idle"},
		},
	}
	empty := engine.Status{Tunnel: "down", Keystore: "file", StateDir: "/tmp/elsewhere", Version: "1.4.0"}
	for name, st := range map[string]engine.Status{"running": running, "not-enrolled": empty} {
		t.Run(name, func(t *testing.T) {
			var text bytes.Buffer
			printStatus(&text, st, now)
			golden(t, "status-"+name+".txt", text.Bytes())
			js, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "status-"+name+".json", append(js, '\n'))
		})
	}
}

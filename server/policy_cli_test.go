package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestPolicyCLI: a bad policy is refused with FILE:LINE:COL problems and
// nothing changes; a good one is in force when `policy set` returns (the
// agents' maps already hold only their peers); `policy test` explains;
// `policy clear` opens the network again; the audit keeps the diff.
func TestPolicyCLI(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http")
	anon, _ := client.New(p.url)
	agents := map[string]*client.Client{}
	versions := map[string]uint64{}
	for _, m := range []struct{ name, tag string }{{"laptop-1", "laptop"}, {"web-1", "web"}, {"db-1", "db"}} {
		var tr wire.CreateTokenResponse
		json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--tag", m.tag, "--json")), &tr)
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: m.name, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		agents[m.name], _ = client.New(p.url, client.WithToken(en.Credential))
	}
	views := map[string]*wire.View{}
	peers := func(name string) string {
		v := views[name]
		if v == nil {
			v = &wire.View{}
			views[name] = v
		}
		nm, err := agents[name].Netmap(context.Background(), v.Version, client.NoWait)
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != 0 && nm.Full {
			t.Errorf("%s got a full map; a policy change must come as a delta", name)
		}
		v.Apply(nm)
		versions[name] = v.Version
		var names []string
		for _, p := range v.Peers {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		return strings.Join(names, ",")
	}
	for _, n := range []string{"laptop-1", "web-1", "db-1"} {
		peers(n)
	}
	if out, _ := cli(t, "policy", "get", "--data-dir", data); !strings.Contains(out, "no access policy is set") {
		t.Fatalf("policy get without a policy:\n%s", out)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hujson")
	os.WriteFile(bad, []byte("{\n  \"tags\": [\"tag:laptop\", \"tag:web\"],\n  \"rules\": [{\"src\": [\"tag:laptpo\"], \"dst\": [\"tag:web\"], \"ports\": [\"443\", \"99999\"]}],\n}\n"), 0o644)
	out, err := cli(t, "policy", "set", bad, "--data-dir", data)
	if err == nil || !strings.Contains(out, bad+`:3:22: unknown tag "tag:laptpo": declare it in "tags"; did you mean tag:laptop?`) ||
		!strings.Contains(out, bad+`:3:74: port "99999"`) || !strings.Contains(out, "nothing was changed") {
		t.Fatalf("bad policy: %v\n%s", err, out)
	}
	if got := peers("db-1"); got != "laptop-1,web-1" {
		t.Fatalf("a refused policy changed the maps: db-1 sees %s", got)
	}

	good := filepath.Join(dir, "good.hujson")
	os.WriteFile(good, []byte(`{
  // laptops reach the web servers' HTTPS; web reaches the database
  "tags": ["tag:laptop", "tag:web", "tag:db"],
  "rules": [
    {"src": ["tag:laptop"], "dst": ["tag:web"], "proto": "tcp", "ports": ["443"]},
    {"src": ["tag:web"], "dst": ["tag:db"], "ports": ["5432"]},
  ],
  "tests": [{"src": "tag:laptop", "accept": ["tag:web:443"], "deny": ["tag:db:5432", "machine:web-1:22"]}],
}
`), 0o644)
	if out := mustCLI(t, "policy", "check", good, "--data-dir", data); !strings.Contains(out, "valid, 2 rules, 3 of 3 test expectations pass (nothing applied)") {
		t.Fatalf("policy check:\n%s", out)
	}
	if got := peers("db-1"); got != "laptop-1,web-1" {
		t.Fatalf("policy check applied the policy: db-1 sees %s", got)
	}
	if out := mustCLI(t, "policy", "set", good, "--data-dir", data); !strings.Contains(out, "policy version 1 in force: 2 rules, 3 of 3") {
		t.Fatalf("policy set:\n%s", out)
	}
	for name, want := range map[string]string{"laptop-1": "web-1", "web-1": "db-1,laptop-1", "db-1": "web-1"} {
		if got := peers(name); got != want {
			t.Errorf("under the policy %s sees %q, want %q", name, got, want)
		}
	}
	if out := mustCLI(t, "policy", "set", good, "--data-dir", data); !strings.Contains(out, "unchanged") {
		t.Fatalf("setting the same policy again:\n%s", out)
	}
	if out := mustCLI(t, "policy", "get", "--data-dir", data); !strings.Contains(out, "// laptops reach the web servers' HTTPS") {
		t.Fatalf("policy get loses the comments:\n%s", out)
	}
	for q, want := range map[[2]string]string{
		{"tag:laptop", "machine:web-1:443"}:        "allowed (rule 1 allows it",
		{"machine:laptop-1", "tag:db:5432"}:        "denied (no rule allows it",
		{"machine:web-1", "machine:db-1:5432/udp"}: "allowed (rule 2",
	} {
		if out := mustCLI(t, "policy", "test", q[0], q[1], "--data-dir", data); !strings.Contains(out, want) {
			t.Errorf("policy test %s %s:\n%s", q[0], q[1], out)
		}
	}
	if out, err := cli(t, "policy", "test", "tag:laptop", "tag:web", "--data-dir", data); err == nil || !strings.Contains(out, "SELECTOR:PORT") {
		t.Errorf("policy test without a port: %v\n%s", err, out)
	}

	if out := mustCLI(t, "policy", "clear", "--data-dir", data); !strings.Contains(out, "every machine reaches every machine") {
		t.Fatalf("policy clear:\n%s", out)
	}
	if got := peers("db-1"); got != "laptop-1,web-1" {
		t.Fatalf("after clear db-1 sees %q", got)
	}
	audit := mustCLI(t, "audit", "--data-dir", data, "--json")
	if !strings.Contains(audit, `"policy.set"`) || !strings.Contains(audit, `"policy.clear"`) || !strings.Contains(audit, `+    {\"src\": [\"tag:laptop\"]`) {
		t.Fatalf("audit lacks the policy changes and their diff:\n%s", audit)
	}
}

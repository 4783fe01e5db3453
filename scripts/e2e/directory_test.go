package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

const directoryE2EPolicy = `{
  "tags": ["tag:server"],
  "groups": {"group:eng": ["directory:Engineering"]},
  "rules": [
    {"src": ["group:eng"], "dst": ["tag:server"], "proto": "icmp"},
    {"src": ["group:eng"], "dst": ["tag:server"], "proto": "tcp", "ports": ["5432"]},
  ],
}
`

// TestDirectoryInNamespaces: the company's directory drives access over
// real tunnels. A SCIM client (this test, as Okta would) provisions Alice;
// her laptop (enrolled with a token she owns) cannot reach the server
// until the directory puts her in Engineering, which the policy names;
// then it can within seconds. The directory deactivates her: her laptop
// leaves the server's map, it can no longer reach the server, and the
// server says it expired.
func TestDirectoryInNamespaces(t *testing.T) {
	f := newFleet(t, 3)
	work := t.TempDir()
	run(t, f.server, "policy", "set", writeFile(t, work, "directory.hujson", directoryE2EPolicy), "--data-dir", f.data)
	var st wire.CreateSCIMTokenResponse
	if err := json.Unmarshal([]byte(run(t, f.server, "scim", "tokens", "create", "--data-dir", f.data, "--json")), &st); err != nil {
		t.Fatal(err)
	}
	// The identity provider reaches the server's HTTPS port (pinned).
	base := strings.Replace(proxyTo(t, f.hosts[0].ns, f.hosts[0].addr+":8443"), "http://", "https://", 1)
	cl, err := client.New(base, client.WithPin(f.pin))
	if err != nil {
		t.Fatal(err)
	}
	scim := func(method, path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+wire.PathSCIM+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+st.Secret)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := cl.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("SCIM %s %s: %d %s", method, path, resp.StatusCode, data)
		}
		out := map[string]any{}
		json.Unmarshal(data, &out)
		return out
	}
	alice := scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice@corp.example","name":{"givenName":"Alice","familyName":"Ng"}}`)
	aliceID := alice["id"].(string)

	server := f.enroll(f.hosts[2], 2, "server")
	startProc(t, server.h.cmd("nc", "-lk", "5432"))
	f.nextOwner = "alice@corp.example"
	laptop := f.enroll(f.hosts[1], 1)
	time.Sleep(2 * time.Second) // both maps settled
	if laptop.h.ping(server.ipv4()) {
		t.Fatal("Alice's laptop reaches the server before she is in Engineering")
	}

	t0 := time.Now()
	scim("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":%q}]}`, aliceID))
	call := time.Since(t0)
	var took time.Duration
	for t1 := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if laptop.h.cmd("nc", "-z", "-w", "1", server.ipv4(), "5432").Run() == nil {
			took = time.Since(t1)
			break
		}
		if time.Since(t1) > 30*time.Second {
			show := run(t, f.server, "machines", "list", "--data-dir", f.data, "--json")
			st, _ := server.h.cmd(server.binary(), "status", "--state-dir", server.dir).CombinedOutput()
			lt, _ := laptop.h.cmd(laptop.binary(), "status", "--state-dir", laptop.dir).CombinedOutput()
			t.Fatalf("the laptop does not reach the server once Alice is in Engineering\nmachines: %s\nserver status: %s\nlaptop status: %s", show, st, lt)
		}
	}
	t.Logf("joined Engineering: the SCIM call took %v; the laptop reached server:5432 %v later", call.Round(time.Millisecond), took.Round(time.Millisecond))

	// Pings every 0.1 s; the directory deactivates Alice 2 s in.
	var answered time.Duration
	got := pingsAround(t, laptop.h, server.ipv4(), 50, func() {
		t1 := time.Now()
		scim("PATCH", "/Users/"+aliceID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`)
		answered = time.Since(t1)
	})
	t.Logf("deactivated: the SCIM call took %v (every map already answered); %d of 50 pings answered (about 21 before the call)", answered.Round(time.Millisecond), got)
	if got > 30 {
		t.Fatalf("%d of 50 pings answered: the laptop kept reaching the server for about %.1f s after its owner was deactivated", got, float64(got-21)/10)
	}
	if laptop.h.cmd("nc", "-z", "-w", "1", server.ipv4(), "5432").Run() == nil {
		t.Fatal("the deactivated person's laptop still connects to the server")
	}
	var ms []wire.Machine
	json.Unmarshal([]byte(run(t, f.server, "machines", "show", laptop.name(), "--data-dir", f.data, "--json")), &ms)
	if len(ms) != 1 || ms[0].State != wire.MachineExpired {
		t.Fatalf("the deactivated person's laptop: %+v", ms)
	}
	if out := run(t, f.server, "audit", "--data-dir", f.data, "--action", "person.deactivate"); !strings.Contains(out, "scim:wfs_") {
		t.Fatalf("the deactivation is not audited as the SCIM client's:\n%s", out)
	}
}

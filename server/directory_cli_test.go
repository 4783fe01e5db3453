package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestDirectoryCLI: a SCIM token made on the command line provisions a
// person and a group; `directory` lists them; a token owned by the person
// and `machines owner` give machines their groups.
func TestDirectoryCLI(t *testing.T) {
	data := t.TempDir()
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http")
	var st wire.CreateSCIMTokenResponse
	if err := json.Unmarshal([]byte(mustCLI(t, "scim", "tokens", "create", "--data-dir", data, "--json")), &st); err != nil || !strings.HasPrefix(st.Secret, wire.PrefixSCIMToken) {
		t.Fatalf("scim tokens create: %+v %v", st, err)
	}
	if out := mustCLI(t, "scim", "tokens", "create", "--data-dir", data); !strings.Contains(out, "SCIM base URL: "+p.url+wire.PathSCIM) {
		t.Fatalf("scim tokens create says:\n%s", out)
	}
	post := func(path, body string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, p.url+wire.PathSCIM+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+st.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %v %v", path, resp, err)
		}
		defer resp.Body.Close()
		out := map[string]any{}
		json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	u := post("/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"dana@example.com","displayName":"Dana"}`)
	post("/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Platform Team","members":[{"value":"`+u["id"].(string)+`"}]}`)
	if out := mustCLI(t, "directory", "people", "--data-dir", data); !strings.Contains(out, "dana@example.com") || !strings.Contains(out, "Platform Team") {
		t.Fatalf("directory people:\n%s", out)
	}
	if out := mustCLI(t, "directory", "groups", "--data-dir", data); !strings.Contains(out, "Platform Team") || !strings.Contains(out, "dana@example.com") {
		t.Fatalf("directory groups:\n%s", out)
	}
	var tr wire.CreateTokenResponse
	json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--owner", "dana@example.com", "--json")), &tr)
	anon, _ := client.New(p.url)
	en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: "danas-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	var ms []wire.Machine
	json.Unmarshal([]byte(mustCLI(t, "machines", "show", en.MachineID, "--data-dir", data, "--json")), &ms)
	m := ms[0]
	if m.Owner != "dana@example.com" || strings.Join(m.OwnerGroups, ",") != "Platform Team" {
		t.Fatalf("the laptop: owner %q groups %v", m.Owner, m.OwnerGroups)
	}
	if out := mustCLI(t, "machines", "show", en.MachineID, "--data-dir", data); !strings.Contains(out, "Platform Team") {
		t.Fatalf("machines show:\n%s", out)
	}
	ms = nil
	json.Unmarshal([]byte(mustCLI(t, "machines", "owner", en.MachineID, "none", "--data-dir", data, "--json")), &ms)
	m = ms[0]
	if m.Owner != "" || m.OwnerGroups != nil {
		t.Fatalf("after `machines owner … none`: owner %q groups %v", m.Owner, m.OwnerGroups)
	}
	if out, err := cli(t, "tokens", "create", "--data-dir", data, "--owner", "nobody@example.com"); err == nil || !strings.Contains(out, "no person is named") {
		t.Fatalf("a token for nobody: %v\n%s", err, out)
	}
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// scimCall sends a SCIM request (the body as given) and decodes the
// answer.
func scimCall(t *testing.T, e *env, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+wire.PathSCIM+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out
}

// peerNames returns the names of the peers in id's full map.
func peerNames(t *testing.T, e *env, id string) []string {
	t.Helper()
	nm, ok := e.hub.Map(id, 0)
	if !ok {
		t.Fatalf("%s has no map", id)
	}
	var out []string
	for _, p := range nm.Peers {
		out = append(out, p.Name)
	}
	return out
}

// TestSCIMProvisioning drives the RFC 7644 example requests against the
// server: a user and a group provisioned, a filter by userName, members
// patched out and in, a deactivation — and what each does to a peer's map
// under a policy that names the directory group.
func TestSCIMProvisioning(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	st, err := e.admin.CreateSCIMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := st.Secret

	code, u := scimCall(t, e, tok, "POST", "/Users", `{
     "schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
     "userName":"bjensen@example.com",
     "externalId":"bjensen",
     "name":{"formatted":"Ms. Barbara J Jensen III","familyName":"Jensen","givenName":"Barbara"}}`)
	if code != http.StatusCreated || u["userName"] != "bjensen@example.com" || u["active"] != true || u["externalId"] != "bjensen" || u["displayName"] != "Ms. Barbara J Jensen III" {
		t.Fatalf("create user: %d %v", code, u)
	}
	uid := u["id"].(string)
	if code, body := scimCall(t, e, tok, "POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com"}`); code != http.StatusConflict || body["scimType"] != "uniqueness" {
		t.Fatalf("second create: %d %v", code, body)
	}
	code, list := scimCall(t, e, tok, "GET", "/Users?filter="+url.QueryEscape(`userName eq "bjensen@example.com"`), "")
	if code != http.StatusOK || list["totalResults"] != float64(1) {
		t.Fatalf("filter by userName: %d %v", code, list)
	}
	// The break-glass admin made by admin create is not the directory's.
	if code, list := scimCall(t, e, tok, "GET", "/Users", ""); code != http.StatusOK || list["totalResults"] != float64(1) {
		t.Fatalf("list users: %d %v", code, list)
	}
	root, _, err := e.db.AdminPasswordHash(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := scimCall(t, e, tok, "PATCH", "/Users/"+root.ID, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`); code != http.StatusNotFound {
		t.Fatalf("deactivating the local admin: %d", code)
	}

	// Barbara's laptop (a token she owns) and a server; the policy lets
	// Engineering reach the server.
	laptopTok := e.token(t, wire.CreateTokenRequest{Owner: "bjensen@example.com"})
	_, laptop := e.agent(t, laptopTok, "laptop")
	_, server := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "server")
	if _, err := e.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: `{"rules": [{"src": ["directory:Engineering"], "dst": ["*"], "ports": ["22"]}]}`}); err != nil {
		t.Fatal(err)
	}
	if got := peerNames(t, e, server.MachineID); len(got) != 0 {
		t.Fatalf("before the group exists the server sees %v", got)
	}
	code, g := scimCall(t, e, tok, "POST", "/Groups", fmt.Sprintf(`{
     "schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],
     "displayName":"Engineering",
     "members":[{"value":%q,"display":"Babs Jensen"}]}`, uid))
	if code != http.StatusCreated {
		t.Fatalf("create group: %d %v", code, g)
	}
	gid := g["id"].(string)
	if got := peerNames(t, e, server.MachineID); strings.Join(got, ",") != "laptop" {
		t.Fatalf("with Barbara in Engineering the server sees %v", got)
	}
	steps := []struct {
		name, method, path, body string
		status                   int
		peers                    string
	}{
		{"remove the member by filter", "PATCH", "/Groups/" + gid,
			fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`, uid), http.StatusOK, ""},
		{"add her back", "PATCH", "/Groups/" + gid,
			fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, uid), http.StatusOK, "laptop"},
		{"rename the group (the policy names the old name)", "PATCH", "/Groups/" + gid,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"displayName":"Eng"}}]}`, http.StatusOK, ""},
		{"rename it back", "PUT", "/Groups/" + gid,
			fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering","members":[{"value":%q}]}`, uid), http.StatusOK, "laptop"},
		{"a member nobody is", "PATCH", "/Groups/" + gid,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"adm_nobody"}]}]}`, http.StatusBadRequest, "laptop"},
		{"deactivate (Entra ID's string boolean)", "PATCH", "/Users/" + uid,
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, http.StatusOK, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := scimCall(t, e, tok, s.method, s.path, s.body)
			if code != s.status {
				t.Fatalf("%s %s: %d %v", s.method, s.path, code, body)
			}
			if got := strings.Join(peerNames(t, e, server.MachineID), ","); got != s.peers {
				t.Fatalf("the server's peers: %q, want %q", got, s.peers)
			}
		})
	}
	m, err := e.db.Machine(ctx, laptop.MachineID)
	if err != nil || m.State != wire.MachineExpired {
		t.Fatalf("the deactivated person's laptop: %s %v", m.State, err)
	}
	ev, err := e.db.ListAudit(ctx, store.AuditFilter{Action: "person.deactivate"})
	if err != nil || len(ev.Events) != 1 || !strings.HasPrefix(ev.Events[0].Actor, "scim:wfs_") {
		t.Fatalf("audit: %+v %v", ev, err)
	}
	if code, _ := scimCall(t, e, tok, "DELETE", "/Users/"+uid, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := scimCall(t, e, tok, "GET", "/Users/"+uid, ""); code != http.StatusNotFound {
		t.Fatalf("get after delete: %d", code)
	}
}

// TestSCIMRefusals: who may call, and what bodies are refused.
func TestSCIMRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	st, err := e.admin.CreateSCIMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	revoked, _ := e.admin.CreateSCIMToken(ctx)
	if err := e.admin.RevokeSCIMToken(ctx, revoked.Token.ID); err != nil {
		t.Fatal(err)
	}
	user := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com"}`
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"no token", "", user, http.StatusUnauthorized},
		{"an admin API key", e.key, user, http.StatusUnauthorized},
		{"a revoked token", revoked.Secret, user, http.StatusUnauthorized},
		{"a key given twice", st.Secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@example.com","userName":"root"}`, http.StatusBadRequest},
		{"an oversized body", st.Secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("a", 3<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"a userName with a space", st.Secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a b"}`, http.StatusBadRequest},
		{"no userName", st.Secret, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}`, http.StatusBadRequest},
		{"not JSON", st.Secret, `{`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := scimCall(t, e, tc.token, "POST", "/Users", tc.body)
			if code != tc.status {
				t.Fatalf("got %d %v, want %d", code, body, tc.status)
			}
		})
	}
	dir, err := e.admin.Directory(ctx)
	if err != nil || len(dir.People) != 1 {
		t.Fatalf("nothing refused may be stored: %+v %v", dir, err)
	}
}

// FuzzSCIMPatch: whatever a SCIM client patches into a person or a
// group, the answer is a SCIM answer below 500, and the directory stays
// readable.
func FuzzSCIMPatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":"False"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","value":{"active":"True","displayName":"x"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"ID\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":[{"value":"ID"}]}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"members","value":{"value":"ID"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"name.familyName","value":7}]}`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	e := newEnv(f, Config{})
	ctx := context.Background()
	st, err := e.admin.CreateSCIMToken(ctx)
	if err != nil {
		f.Fatal(err)
	}
	p, err := e.fl.CreatePerson(ctx, store.Actor{Name: "fuzz"}, store.PersonInput{UserName: "fuzz@example.com", Active: true})
	if err != nil {
		f.Fatal(err)
	}
	g, err := e.fl.CreateGroup(ctx, store.Actor{Name: "fuzz"}, store.GroupInput{Name: "Fuzzers", Members: []string{p.ID}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, user bool) {
		body = strings.ReplaceAll(body, "ID", p.ID)
		path := "/Groups/" + g.ID
		if user {
			path = "/Users/" + p.ID
		}
		req, _ := http.NewRequest(http.MethodPatch, e.url+wire.PathSCIM+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+st.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("PATCH %s %q → %d %s", path, body, resp.StatusCode, data)
		}
		if _, err := e.admin.Directory(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

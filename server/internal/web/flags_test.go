package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// The flag form's errors speak the user's words, not Go's, and editing a
// flag cannot silently create a second one under a changed key.
func TestFlagFormErrorsSpeakPlainly(t *testing.T) {
	base, password, admin := server(t)
	c := signedIn(t, base, password)
	csrf := csrfOf(get(t, c, base+"/flags"))
	save := func(v url.Values) string {
		v.Set("csrf", csrf)
		for k, d := range map[string]string{"type": "boolean", "default": "false", "enabled": "on"} {
			if v.Get(k) == "" {
				v.Set(k, d)
			}
		}
		resp, err := c.PostForm(base+"/flags", v)
		return html.UnescapeString(body(t, resp, err))
	}
	for rules, want := range map[string]string{
		`{}`:                     "the whole value must be a list, not object",
		`[{"tags": "env:prod"}]`: `"tags" must be a list, not string`,
		`[{"bogus": 1}]`:         `unknown field "bogus" (a rule knows tags`,
		"[\n{":                   "it ends early",
		"[\n{,}]":                "not valid JSON on line 2",
	} {
		page := save(url.Values{"key": {"checkout"}, "rules": {rules}})
		if !strings.Contains(page, want) || strings.Contains(page, "Go value") || strings.Contains(page, "wire.") {
			t.Errorf("rules %q: the page should say %q, in plain words:\n%s", rules, want, errorBox(page))
		}
	}
	if page := save(url.Values{"key": {"checkout"}}); !strings.Contains(page, "Flag checkout saved") {
		t.Fatalf("saving a flag:\n%s", errorBox(page))
	}
	edit := get(t, c, base+"/flags?edit=checkout")
	if !strings.Contains(edit, `name="original" value="checkout"`) || !strings.Contains(edit, "readonly") {
		t.Errorf("the edit form should carry the key it edits, read-only")
	}
	if page := save(url.Values{"key": {"checkout-v2"}, "original": {"checkout"}}); !strings.Contains(page, "key cannot change") {
		t.Errorf("a changed key in the edit form:\n%s", errorBox(page))
	}
	fl, err := admin.ListFlags(context.Background())
	if err != nil || len(fl) != 1 || fl[0].Key != "checkout" {
		t.Fatalf("flags after editing: %+v (%v), want checkout alone", fl, err)
	}
}

// errorBox is the page's error notice, or the page when it has none.
func errorBox(page string) string {
	if i := strings.Index(page, `class="error"`); i >= 0 {
		return page[i:min(len(page), i+400)]
	}
	return page
}

// signedIn is a browser-like client signed in to the page as admin.
func signedIn(t *testing.T, base, password string) *http.Client {
	t.Helper()
	c := browser()
	login := get(t, c, base+"/login")
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {csrfOf(login)}, "username": {"admin"}, "password": {password}})
	if page := body(t, resp, err); !strings.Contains(page, `action="/logout"`) {
		t.Fatalf("sign-in failed:\n%s", errorBox(page))
	}
	return c
}

// The tokens page names the machines each token enrolled and keeps used,
// expired and revoked tokens out of the way until asked.
func TestTokensPageShowsMachinesAndHidesHistory(t *testing.T) {
	base, password, admin := server(t)
	ctx := context.Background()
	anon, _ := client.New(base)
	enroll := func(secret, host string) {
		if _, err := anon.Enroll(ctx, wire.EnrollRequest{Token: secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}); err != nil {
			t.Fatal(err)
		}
	}
	once, _ := admin.CreateToken(ctx, wire.CreateTokenRequest{})
	enroll(once.Secret, "used-once")
	many, _ := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true})
	for i := range 7 {
		enroll(many.Secret, fmt.Sprintf("fleet-%d", i))
	}
	gone, _ := admin.CreateToken(ctx, wire.CreateTokenRequest{})
	if _, err := admin.RevokeToken(ctx, gone.Token.ID); err != nil {
		t.Fatal(err)
	}
	c := signedIn(t, base, password)
	page := get(t, c, base+"/tokens")
	for _, want := range []string{many.Token.Prefix, ">fleet-0<", ">fleet-4<", "and 2 more", "Show 2 used, expired or revoked tokens"} {
		if !strings.Contains(page, want) {
			t.Errorf("the tokens page lacks %q", want)
		}
	}
	for _, hidden := range []string{once.Token.Prefix, gone.Token.Prefix, "fleet-5"} {
		if strings.Contains(page, hidden) {
			t.Errorf("the tokens page shows %q by default", hidden)
		}
	}
	all := get(t, c, base+"/tokens?all=1")
	for _, want := range []string{once.Token.Prefix, gone.Token.Prefix, ">used-once<"} {
		if !strings.Contains(all, want) {
			t.Errorf("?all=1 lacks %q", want)
		}
	}
}

// The audit page names machines (not m_… IDs), links them, says what a
// change changed (before → after) and filters by date.
func TestAuditPageNamesAndDiffs(t *testing.T) {
	base, password, admin := server(t)
	ctx := context.Background()
	tok, _ := admin.CreateToken(ctx, wire.CreateTokenRequest{})
	anon, _ := client.New(base)
	en, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	name, tags := "web-2", []string{"web", "db"}
	if _, err := admin.UpdateMachine(ctx, en.MachineID, wire.UpdateMachineRequest{Name: &name, Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	c := signedIn(t, base, password)
	page := html.UnescapeString(get(t, c, base+"/audit?action=machine.update"))
	for _, want := range []string{`href="/machines/` + en.MachineID + `"`, ">web-2<", "name: web-1 → web-2", "tags: none → web, db"} {
		if !strings.Contains(page, want) {
			t.Errorf("the audit page lacks %q:\n%s", want, page[strings.Index(page, "<table"):])
		}
	}
	if strings.Contains(page, ">"+en.MachineID+"<") {
		t.Errorf("the audit page shows the raw ID %s as the target", en.MachineID)
	}
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	if p := get(t, c, base+"/audit?from="+tomorrow); !strings.Contains(p, "No events match") {
		t.Error("events from tomorrow on should be none")
	}
	if p := get(t, c, base+"/audit?action=machine.update&from="+today+"&to="+today); !strings.Contains(p, "web-2") {
		t.Error("today's events are missing from a from=to=today range")
	}
}

// Admins and API keys are managed from the page: a new admin's password
// and API key are shown once (a reload shows nothing), keys can be made
// and revoked, admins deleted (not oneself).
func TestAdminsPage(t *testing.T) {
	base, password, admin := server(t)
	ctx := context.Background()
	c := signedIn(t, base, password)
	page := get(t, c, base+"/admins")
	if !strings.Contains(page, "(you)") || !strings.Contains(page, "wfa_") {
		t.Fatalf("the admins page should show you and your API key:\n%s", page)
	}
	csrf := csrfOf(page)
	secretOf := func(page string, i int) string {
		m := regexp.MustCompile(fmt.Sprintf(`id="secret-%d">([^<]+)<`, i)).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no secret %d on:\n%s", i, errorBox(page))
		}
		return m[1]
	}
	resp, err := c.PostForm(base+"/admins", url.Values{"csrf": {csrf}, "name": {"alice"}})
	shown := body(t, resp, err)
	at := resp.Request.URL.String()
	alicePW, aliceKey := secretOf(shown, 0), secretOf(shown, 1)
	if !strings.Contains(at, "/admins/created/") || len(alicePW) < 16 || !strings.HasPrefix(aliceKey, "wfa_") {
		t.Fatalf("new admin at %s: password %q, key %q", at, alicePW, aliceKey)
	}
	resp, err = c.Get(at)
	if again := body(t, resp, err); resp.StatusCode != http.StatusGone || strings.Contains(again, alicePW) {
		t.Fatalf("a reload of the secrets page: %d", resp.StatusCode)
	}
	alice, _ := client.New(base, client.WithToken(aliceKey))
	if _, err := alice.ListMachines(ctx, client.MachineFilter{}); err != nil {
		t.Fatalf("alice's API key: %v", err)
	}
	resp, err = c.PostForm(base+"/admins/keys", url.Values{"csrf": {csrf}, "expires": {"720h"}})
	mine := secretOf(body(t, resp, err), 0)
	k, _ := client.New(base, client.WithToken(mine))
	if _, err := k.ListMachines(ctx, client.MachineFilter{}); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	keys, _ := admin.ListAPIKeys(ctx)
	var id string
	for _, key := range keys {
		if strings.HasPrefix(mine, key.Prefix) {
			id = key.ID
		}
	}
	resp, err = c.PostForm(base+"/admins/keys/"+id+"/revoke", url.Values{"csrf": {csrf}})
	body(t, resp, err)
	if _, err := k.ListMachines(ctx, client.MachineFilter{}); err == nil {
		t.Error("a revoked key still works")
	}
	as, _ := admin.ListAdmins(ctx)
	for _, a := range as {
		resp, err = c.PostForm(base+"/admins/"+a.ID+"/delete", url.Values{"csrf": {csrf}})
		out := body(t, resp, err)
		if a.Name == "admin" && !strings.Contains(out, "cannot delete yourself") {
			t.Errorf("deleting yourself should be refused:\n%s", errorBox(out))
		}
	}
	if _, err := alice.ListMachines(ctx, client.MachineFilter{}); err == nil {
		t.Error("a deleted admin's key still works")
	}
}

// Bad input to the bulk form, the audit dates and the admins form gets a
// clear message and changes nothing.
func TestConsoleFormsRefuseBadInput(t *testing.T) {
	base, password, admin := server(t)
	ctx := context.Background()
	tok, _ := admin.CreateToken(ctx, wire.CreateTokenRequest{})
	anon, _ := client.New(base)
	en, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "keep-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	c := signedIn(t, base, password)
	csrf := csrfOf(get(t, c, base+"/machines"))
	post := func(path string, v url.Values) (int, string) {
		v.Set("csrf", csrf)
		resp, err := c.PostForm(base+path, v)
		page := html.UnescapeString(body(t, resp, err))
		return resp.StatusCode, page
	}
	many := make([]string, 501)
	for i := range many {
		many[i] = fmt.Sprintf("m_%d", i)
	}
	for what, c := range map[string]struct {
		v    url.Values
		want string
	}{
		"unknown action":     {url.Values{"action": {"format-disk"}, "id": {en.MachineID}, "confirm": {"yes"}}, "Choose what to do"},
		"nothing selected":   {url.Values{"action": {"revoke"}, "confirm": {"yes"}}, "Select at least one machine"},
		"too many":           {url.Values{"action": {"revoke"}, "id": many, "confirm": {"yes"}}, "At most 500 machines"},
		"a tag with a space": {url.Values{"action": {"tag"}, "tag": {"two words"}, "id": {en.MachineID}, "confirm": {"yes"}}, "Tag:"},
		"back elsewhere":     {url.Values{"action": {"bogus"}, "id": {en.MachineID}, "back": {"https://evil.example/"}}, "Choose what to do"},
	} {
		if _, page := post("/machines/bulk", c.v); !strings.Contains(page, c.want) || strings.Contains(page, "evil.example") {
			t.Errorf("bulk, %s: the page does not say %q:\n%s", what, c.want, errorBox(page))
		}
	}
	if m, err := admin.Machine(ctx, en.MachineID); err != nil || m.State != wire.MachineActive || len(m.Tags) != 0 {
		t.Fatalf("bad bulk input changed the machine: %+v %v", m, err)
	}
	if resp, err := c.Get(base + "/audit?from=yesterday"); body(t, resp, err) == "" || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a malformed date: %d, want 400", resp.StatusCode)
	}
	if _, page := post("/admins", url.Values{"name": {"Bad Name!"}}); !strings.Contains(page, "name") || strings.Contains(page, "secret-0") {
		t.Errorf("a malformed admin name:\n%s", errorBox(page))
	}
	if as, _ := admin.ListAdmins(ctx); len(as) != 1 {
		t.Errorf("%d admins after a malformed name, want 1", len(as))
	}
}

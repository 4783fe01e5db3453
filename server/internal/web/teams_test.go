package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// TestTeamAdminInChromium: Alice signs in through the provider as a
// member; her groups claim puts her in "Web Admins", which administers
// the team owning tag:web. In Chromium she sees the team's navigation
// only (machines, tokens, audit), the web machines and not the db ones,
// the web token and not the db one; she renames a web machine; the db
// machine's page refuses her. The owner sees everything.
func TestTeamAdminInChromium(t *testing.T) {
	exe := chromium(t)
	issuer, register, idp := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, password, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile,
			AdminGroups: []string{"fleet-admins"}, MemberDomains: []string{"corp.example"}}
	})
	register(base + "/sso/callback")
	idp.mu.Lock()
	idp.groups["u-alice"] = []string{"Web Admins"}
	idp.mu.Unlock()
	ctx := context.Background()
	if _, err := admin.PutTeam(ctx, "web", wire.PutTeamRequest{Tags: []string{"web"}, AdminGroups: []string{"Web Admins"}}); err != nil {
		t.Fatal(err)
	}
	anon, _ := client.New(base)
	ids := map[string]string{}
	for _, m := range []struct{ name, tag string }{{"web-1", "web"}, {"web-2", "web"}, {"db-1", "db"}} {
		tr, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Tags: []string{m.tag}})
		if err != nil {
			t.Fatal(err)
		}
		en, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: m.name, Name: m.name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		ids[m.name] = en.MachineID
	}
	if _, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, Tags: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutTeam(ctx, "db", wire.PutTeamRequest{Tags: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []wire.Flag{{Key: "web-cache", Team: "web"}, {Key: "db-vacuum", Team: "db"}, {Key: "fleet-wide"}} {
		f.Type, f.Default = "boolean", []byte("false")
		if _, err := admin.SetFlag(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, Tags: []string{"db"}}); err != nil {
		t.Fatal(err)
	}

	cctx := chromiumContext(t, exe, 90*time.Second)
	run := runner(t, cctx)
	var nav, machines, tokens, refused string
	run("alice signs in and sees her team's machines",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#sso"),
		chromedp.Click("#sso"),
		chromedp.WaitVisible(`input[name="username"]`),
		chromedp.SendKeys(`input[name="username"]`, "alice"),
		chromedp.SendKeys(`input[name="password"]`, "alice-pw"),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(`//table[@id="machines"]`, chromedp.BySearch),
		chromedp.Text(`nav[aria-label="Main"]`, &nav),
		chromedp.Text(`#machines`, &machines),
	)
	if !strings.Contains(machines, "web-1") || !strings.Contains(machines, "web-2") || strings.Contains(machines, "db-1") {
		t.Errorf("alice's machines page:\n%s", machines)
	}
	if !strings.Contains(nav, "Tokens") || strings.Contains(nav, "Policy") || strings.Contains(nav, "Admins") {
		t.Errorf("alice's navigation: %q", nav)
	}
	run("her tokens",
		chromedp.Navigate(base+"/tokens"),
		chromedp.WaitVisible(`main`),
		chromedp.Text(`main`, &tokens),
	)
	// The db team's token is tagged db; a token's random prefix may hold
	// the letters too (wfe_7db3…), so match the word.
	if !strings.Contains(tokens, "web") || regexp.MustCompile(`\bdb\b`).MatchString(tokens) {
		t.Errorf("alice's tokens page:\n%s", tokens)
	}
	var flags string
	run("her flags",
		chromedp.Navigate(base+"/flags"),
		chromedp.WaitVisible(`main`),
		chromedp.Text(`main table`, &flags),
	)
	if !strings.Contains(flags, "web-cache") || strings.Contains(flags, "db-vacuum") || strings.Contains(flags, "fleet-wide") {
		t.Errorf("alice's flags page:\n%s", flags)
	}
	run("another team's machine refuses her",
		chromedp.Navigate(base+"/machines/"+ids["db-1"]),
		chromedp.WaitVisible(`.error`),
		chromedp.Text(`.error`, &refused),
	)
	if !strings.Contains(refused, "outside your teams") {
		t.Errorf("db-1's page for alice: %q", refused)
	}
	run("she renames a machine of her team",
		chromedp.Navigate(base+"/machines/"+ids["web-2"]),
		chromedp.WaitVisible(`#name`),
		chromedp.SetValue(`#name`, "web-2b"),
		chromedp.Submit(`#name`),
		chromedp.WaitVisible(`.flash`),
	)
	if m, err := admin.Machine(ctx, ids["web-2"]); err != nil || m.Name != "web-2b" {
		t.Errorf("after alice's rename: %q %v", m.Name, err)
	}

	// The owner sees every machine.
	c := signedIn(t, base, password)
	if page := get(t, c, base+"/machines"); !strings.Contains(page, "db-1") || !strings.Contains(page, "web-1") {
		t.Error("the owner does not see every machine")
	}
}

// TestClientsPageInChromium: an owner makes a flag client on the Clients
// page and is shown its key once; the key evaluates over OFREP; the bulk
// form disables the client, whose key then stops working; the flags page
// says a flag nobody evaluated is unused.
func TestClientsPageInChromium(t *testing.T) {
	exe := chromium(t)
	base, password, admin := serverWith(t, nil)
	ctx := context.Background()
	if _, err := admin.SetFlag(ctx, wire.Flag{Key: "dark-mode", Type: "boolean", Enabled: true, Default: []byte("true")}); err != nil {
		t.Fatal(err)
	}
	cctx := chromiumContext(t, exe, 60*time.Second)
	run := runner(t, cctx)
	var key, state, usage, who string
	run("sign in and make a client",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#password`),
		chromedp.SendKeys(`#password`, password),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`//table[@id="machines"]`, chromedp.BySearch),
		chromedp.Navigate(base+"/clients"),
		chromedp.WaitVisible(`#cname`),
		chromedp.SendKeys(`#cname`, "checkout-api"),
		chromedp.SetValue(`#ckind`, "backend"),
		chromedp.Click(`#create-client`),
		chromedp.WaitVisible(`#secret-0`),
		chromedp.Text(`#secret-0`, &key),
	)
	if !strings.HasPrefix(key, wire.PrefixFlagClientKey) {
		t.Fatalf("the key shown: %q", key)
	}
	eval := func() int {
		req, _ := http.NewRequest(http.MethodPost, base+"/ofrep/v1/evaluate/flags/dark-mode", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := eval(); code != http.StatusOK {
		t.Fatalf("the new key evaluates: %d", code)
	}
	run("disable it in bulk",
		chromedp.Navigate(base+"/clients"),
		chromedp.WaitVisible(`input[name="client"]`),
		chromedp.Click(`input[name="client"][value="checkout-api"]`),
		chromedp.SetValue(`#bulk-action`, "disable"),
		chromedp.Click(`#bulk-go`),
		chromedp.WaitVisible(`.flash`),
		chromedp.Text(`#clients`, &state),
		chromedp.Navigate(base+"/flags"),
		chromedp.WaitVisible(`.usage`),
		chromedp.Text(`.usage`, &usage),
		chromedp.Navigate(base+"/flags?edit=dark-mode"),
		chromedp.WaitVisible(`#flag-usage`),
		chromedp.Text(`#flag-usage`, &who),
	)
	if !strings.Contains(who, "Nobody evaluated it") {
		t.Errorf("dark-mode's edit view, no usage written yet: %q", who)
	}
	if !strings.Contains(state, "inactive") {
		t.Errorf("the clients table after disabling: %q", state)
	}
	if code := eval(); code != http.StatusUnauthorized {
		t.Errorf("the disabled client's key: %d", code)
	}
	if !strings.Contains(usage, "not in 7 days") {
		t.Errorf("dark-mode's usage, no write yet: %q", usage)
	}
}

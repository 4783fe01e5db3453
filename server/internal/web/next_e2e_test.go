package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// Signing in with a password never sends the browser to another site,
// however deeply the next address is encoded, and keeps a local one whole
// (its query too).
func TestSignInRedirectStaysHome(t *testing.T) {
	base, password, _ := server(t)
	for _, tc := range []struct{ next, want string }{
		{"/%25255Cevil.example", "/machines"},
		{"/%255Cevil.example", "/machines"},
		{"/%5Cevil.example", "/machines"},
		{"//evil.example", "/machines"},
		{"/%252F%252Fevil.example", "/machines"},
		{"/machines?state=offline&per=500", "/machines?state=offline&per=500"},
	} {
		t.Run(tc.next, func(t *testing.T) {
			c := browser()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			login := get(t, c, base+"/login?next="+url.QueryEscape(tc.next))
			next := ""
			if m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(login); m != nil {
				next = html.UnescapeString(m[1])
			}
			resp, err := c.PostForm(base+"/login", url.Values{"csrf": {csrfOf(login)}, "username": {"admin"}, "password": {password}, "next": {next}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || loc != tc.want {
				t.Fatalf("after signing in with next=%q (form %q): %d Location %q, want %q", tc.next, next, resp.StatusCode, loc, tc.want)
			}
			if u, err := url.Parse(loc); err != nil || u.Host != "" || strings.HasPrefix(loc, "//") || strings.Contains(loc, `\`) {
				t.Fatalf("Location %q leaves the server", loc)
			}
		})
	}
}

// A bulk action comes back to the list it started from, filter and page
// size kept, whether it is confirmed or cancelled.
func TestBulkActionKeepsTheListsFilter(t *testing.T) {
	base, password, admin := server(t)
	ctx := context.Background()
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true})
	if err != nil {
		t.Fatal(err)
	}
	anon, _ := client.New(base)
	er, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "bulk-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	c := signedIn(t, base, password)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	list := get(t, c, base+"/machines?per=500&state=offline")
	back := "/machines?per=500&state=offline"
	form := url.Values{"csrf": {csrfOf(list)}, "action": {"tag"}, "tag": {"kept"}, "back": {back}, "id": {er.MachineID}}
	resp, err := c.PostForm(base+"/machines/bulk", form)
	confirm := body(t, resp, err)
	if !strings.Contains(confirm, `href="`+html.EscapeString(back)+`">Cancel`) {
		t.Errorf("Cancel does not go back to %s:\n%s", back, confirm)
	}
	form.Set("confirm", "yes")
	resp, err = c.PostForm(base+"/machines/bulk", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != back {
		t.Errorf("after the bulk action: Location %q, want %q", loc, back)
	}
}

// Nobody signed in can flood the audit log through the SSO callback:
// refusals from one address past the sign-in limit (10 a minute) are
// answered 429 and counted, not written, and the next refusal written
// says how many were left out.
func TestSSORefusalsDoNotFloodTheAuditLog(t *testing.T) {
	t.Parallel()
	issuer, register, _ := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, _, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile, AllowedDomains: []string{"corp.example"}}
	})
	register(base + "/sso/callback")
	ctx := context.Background()
	codes := map[int]int{}
	for i := range 40 {
		resp, err := http.Get(fmt.Sprintf("%s/sso/callback?error=x%d", base, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	refused := func() []wire.AuditEvent {
		page, err := admin.Audit(ctx, client.AuditFilter{Action: "admin.sso_refused", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return page.Events
	}
	if n := len(refused()); n > 10 || codes[http.StatusTooManyRequests] < 30 {
		t.Fatalf("40 refused callbacks wrote %d audit events (answers %v), want at most 10 and the rest 429", n, codes)
	}
	time.Sleep(6500 * time.Millisecond) // one sign-in's worth of the limit comes back
	resp, err := http.Get(base + "/sso/callback?error=late")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ev := refused()
	if len(ev) == 0 || ev[0].Details["repeats_not_recorded"] != float64(codes[http.StatusTooManyRequests]) {
		t.Fatalf("the next refusal recorded: %+v, want repeats_not_recorded %d", ev[0], codes[http.StatusTooManyRequests])
	}
}

package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// groupStorage is zitadel's example OpenID provider storage, plus a
// "groups" claim (which the example does not have) in the ID token and in
// userinfo.
type groupStorage struct {
	*storage.Storage
	groups map[string][]string // user ID → groups

	mu         sync.Mutex
	postLogout []string // post-logout redirect URIs registered for every client
	ended      []string // "user client" of each session ended by RP-initiated logout
}

// postLogoutClient is a registered client with post-logout redirect URIs
// (the example's clients have none).
type postLogoutClient struct {
	op.Client
	uris []string
}

func (c postLogoutClient) PostLogoutRedirectURIs() []string { return c.uris }

func (g *groupStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := g.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return postLogoutClient{c, g.postLogout}, nil
}

func (g *groupStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	g.mu.Lock()
	g.ended = append(g.ended, userID+" "+clientID)
	g.mu.Unlock()
	return g.Storage.TerminateSession(ctx, userID, clientID)
}

// groupsOf is a user's groups (the test may change them).
func (g *groupStorage) groupsOf(user string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.groups[user]
}

// endedSessions are the provider sessions RP-initiated logout ended.
func (g *groupStorage) endedSessions() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.ended)
}

func (g *groupStorage) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, userID, clientID string, scopes []string) error {
	if err := g.Storage.SetUserinfoFromScopes(ctx, ui, userID, clientID, scopes); err != nil {
		return err
	}
	ui.AppendClaims("groups", g.groupsOf(userID))
	return nil
}

func (g *groupStorage) SetUserinfoFromRequest(ctx context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	if err := g.Storage.SetUserinfoFromRequest(ctx, ui, req, scopes); err != nil {
		return err
	}
	ui.AppendClaims("groups", g.groupsOf(req.GetSubject()))
	return nil
}

func (g *groupStorage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := g.Storage.SetUserinfoFromToken(ctx, ui, tokenID, subject, origin); err != nil {
		return err
	}
	ui.AppendClaims("groups", g.groupsOf(subject))
	return nil
}

// identityProvider starts zitadel's OpenID provider (github.com/zitadel/oidc,
// OpenID-certified) with three users: alice (a verified address in the
// allowed domain), carol (another domain, in the admin group) and bob
// (neither). It returns its issuer URL and registers our client once the
// callback URL is known.
func identityProvider(t *testing.T) (issuer string, register func(callback string), st *groupStorage) {
	t.Helper()
	users := map[string]storage.User{
		"u-alice": {ID: "u-alice", Username: "alice", Password: "alice-pw", Email: "alice@corp.example", EmailVerified: true, FirstName: "Alice"},
		"u-bob":   {ID: "u-bob", Username: "bob", Password: "bob-pw", Email: "bob@elsewhere.example", EmailVerified: true, FirstName: "Bob"},
		"u-carol": {ID: "u-carol", Username: "carol", Password: "carol-pw", Email: "carol@contractor.example", EmailVerified: true, FirstName: "Carol"},
	}
	b, _ := json.Marshal(users)
	path := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	us, err := storage.StoreFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st = &groupStorage{Storage: storage.NewStorage(us), groups: map[string][]string{"u-carol": {"fleet-admins"}, "u-bob": {"staff"}}}
	var mu sync.Mutex
	var h http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hh := h
		mu.Unlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	router := exampleop.SetupServer(srv.URL, st, nil, false)
	mu.Lock()
	h = router
	mu.Unlock()
	return srv.URL, func(callback string) {
		storage.RegisterClients(storage.WebClient("wirefleet", "wirefleet-secret", callback))
		st.mu.Lock()
		st.postLogout = []string{strings.TrimSuffix(callback, "/sso/callback") + "/login"}
		st.mu.Unlock()
	}, st
}

// browser is a cookie-keeping HTTP client that follows redirects, as a
// browser would for these plain pages.
func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

// get fetches u with c and returns the body.
func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	return body(t, resp, err)
}

func body(t *testing.T, resp *http.Response, err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// signIn goes from our "Sign in with single sign-on" link through the
// provider's login form and back, and returns the last response's status,
// body and URL.
func signIn(t *testing.T, c *http.Client, base, user, password string) (int, string, *url.URL) {
	return signInFrom(t, c, base+"/sso/start", user, password)
}

// signInFrom is signIn starting at a given single sign-on link.
func signInFrom(t *testing.T, c *http.Client, start, user, password string) (int, string, *url.URL) {
	t.Helper()
	resp, err := c.Get(start)
	page := body(t, resp, err)
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("the provider's login page was not reached: %s\n%s", resp.Request.URL, page)
	}
	form := url.Values{"username": {user}, "password": {password}, "id": {id}}
	resp, err = c.PostForm(resp.Request.URL.Scheme+"://"+resp.Request.URL.Host+"/login/username", form)
	page = body(t, resp, err)
	return resp.StatusCode, page, resp.Request.URL
}

// TestSingleSignOn signs admins in through a real OpenID provider: a user
// of the allowed domain and a member of the admin group get in (as admins
// named by their addresses, audited as SSO users); a user with neither is
// refused; a replayed callback (state already used) is refused; signing
// out ends the session here and, through RP-initiated logout with the ID
// token as hint, at the provider, coming back to the sign-in page. With
// --password-login=false the password form is gone and a password POST is
// refused.
func TestSingleSignOn(t *testing.T) {
	issuer, register, idp := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret\n"), 0o600)
	base, _, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile,
			AllowedDomains: []string{"corp.example"}, AdminGroups: []string{"fleet-admins"}}
		o.NoPasswordLogin = true
	})
	register(base + "/sso/callback")

	login := get(t, http.DefaultClient, base+"/login")
	if !strings.Contains(login, `href="/sso/start"`) || strings.Contains(login, `name="password"`) {
		t.Fatalf("sign-in page with --password-login=false:\n%s", login)
	}
	resp, err := http.PostForm(base+"/login", url.Values{"username": {"admin"}, "password": {"x"}})
	if page := body(t, resp, err); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "Password sign-in is turned off") {
		t.Fatalf("password POST: %d\n%s", resp.StatusCode, page)
	}

	for _, u := range []struct{ user, pw, email string }{{"alice", "alice-pw", "alice@corp.example"}, {"carol", "carol-pw", "carol@contractor.example"}} {
		c := browser()
		status, page, at := signIn(t, c, base, u.user, u.pw)
		if status != http.StatusOK || !strings.Contains(page, "Signed in as "+u.email) || at.Path != "/sso/callback" {
			t.Fatalf("%s: %d at %s\n%s", u.user, status, at, page)
		}
		machines := get(t, c, base+"/machines")
		if !strings.Contains(machines, u.email) {
			t.Fatalf("%s: the machines page does not show the signed-in admin:\n%s", u.user, machines)
		}
		// The same callback again (a replayed state), even with the
		// state's cookie put back, is refused: a state is good once.
		req, _ := http.NewRequest(http.MethodGet, at.String(), nil)
		req.AddCookie(&http.Cookie{Name: "wf_sso", Value: at.Query().Get("state")})
		resp, err := http.DefaultClient.Do(req)
		if replay := body(t, resp, err); resp.StatusCode != http.StatusBadRequest || !strings.Contains(replay, "expired or was already used") {
			t.Fatalf("%s: a replayed callback was not refused: %d\n%s", u.user, resp.StatusCode, replay)
		}
		// Without the cookie (another browser) too.
		if replay := get(t, browser(), at.String()); !strings.Contains(replay, "did not start in this browser") {
			t.Fatalf("%s: a callback from another browser was not refused:\n%s", u.user, replay)
		}
		page2 := get(t, c, base+"/machines")
		csrf := csrfOf(page2)
		ended := len(idp.endedSessions())
		var via []string
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			via = append(via, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
			return nil
		}
		resp, err = c.PostForm(base+"/logout", url.Values{"csrf": {csrf}})
		out := body(t, resp, err)
		// The page moves on to the provider (a meta refresh: the form's
		// POST may not be redirected off-site under the CSP).
		next := regexp.MustCompile(`<a href="([^"]+)" id="continue"`).FindStringSubmatch(out)
		if next == nil {
			t.Fatalf("%s: the sign-out page does not move on to the provider:\n%s", u.user, out)
		}
		resp, err = c.Get(html.UnescapeString(next[1]))
		c.CheckRedirect = nil
		body(t, resp, err)
		if via = append([]string{strings.Split(html.UnescapeString(next[1]), "?")[0]}, via...); resp.Request.URL.String() != base+"/login" {
			t.Fatalf("%s: logout ended at %s", u.user, resp.Request.URL)
		}
		if len(via) == 0 || via[0] != issuer+"/end_session" {
			t.Errorf("%s: logout went %v, not through the provider's end_session endpoint", u.user, via)
		}
		if e := idp.endedSessions(); len(e) != ended+1 || !strings.HasSuffix(e[len(e)-1], " wirefleet") || strings.HasPrefix(e[len(e)-1], " ") {
			t.Errorf("%s: the provider ended %v, want this user's session of client wirefleet", u.user, e)
		}
		if after := get(t, c, base+"/machines"); !strings.Contains(after, `href="/sso/start"`) {
			t.Fatalf("%s: still signed in after logout", u.user)
		}
	}

	c := browser()
	status, page, _ := signIn(t, c, base, "bob", "bob-pw")
	if status != http.StatusForbidden || !strings.Contains(page, "bob@elsewhere.example) is not allowed") {
		t.Fatalf("bob: %d\n%s", status, page)
	}
	if m := get(t, c, base+"/machines"); !strings.Contains(m, `href="/sso/start"`) {
		t.Fatal("bob got a session")
	}

	ctx := context.Background()
	page3, err := admin.Audit(ctx, client.AuditFilter{Action: "admin.sso"})
	if err != nil {
		t.Fatal(err)
	}
	var logins, refused int
	for _, e := range page3.Events {
		switch e.Action {
		case "admin.sso_login":
			logins++
			if !strings.HasSuffix(e.Actor, "(sso)") {
				t.Errorf("sso login audited as %q", e.Actor)
			}
		case "admin.sso_refused":
			refused++
		}
	}
	if logins != 2 || refused < 5 { // bob, and two replays per admin
		t.Fatalf("audit: %d sso logins, %d refusals: %+v", logins, refused, page3.Events)
	}
	admins, err := admin.ListAdmins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range admins {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "alice@corp.example") || !strings.Contains(got, "carol@contractor.example") || strings.Contains(got, "bob") {
		t.Fatalf("admins: %s", got)
	}
}

// csrfOf returns the CSRF token of the first form on a page.
func csrfOf(page string) string {
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestSingleSignOnInChromium walks the sign-in in Chromium as an admin
// would: the single sign-on button, the provider's form, back on the
// machines page signed in (the session cookie is SameSite=Strict, so the
// return from the provider must not lose it), sign-out; then a user the
// rules do not admit sees why, and has no session.
func TestSingleSignOnInChromium(t *testing.T) {
	exe := chromium(t)
	issuer, register, idp := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, _, _ := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile, AdminGroups: []string{"fleet-admins"}}
	})
	register(base + "/sso/callback")
	shot := shots(t)
	ctx := chromiumContext(t, exe, 60*time.Second)
	run := runner(t, ctx)
	provider := func(user, pw string) chromedp.Tasks {
		return chromedp.Tasks{
			chromedp.Navigate(base + "/login"),
			chromedp.WaitVisible("#sso"),
			chromedp.Click("#sso"),
			chromedp.WaitVisible(`input[name="username"]`),
			chromedp.SendKeys(`input[name="username"]`, user),
			chromedp.SendKeys(`input[name="password"]`, pw),
			chromedp.Submit(`input[name="password"]`),
		}
	}
	var who, url string
	run("carol signs in through the provider",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#sso"),
		shot("login-sso"),
		provider("carol", "carol-pw"),
		chromedp.WaitVisible(`//table[@id="machines"]`, chromedp.BySearch),
		chromedp.Text("header", &who),
		chromedp.Location(&url),
	)
	if !strings.Contains(who, "carol@contractor.example") || !strings.HasSuffix(url, "/machines") {
		t.Fatalf("after single sign-on: at %s, header %q", url, who)
	}
	run("sign out",
		chromedp.Click(`//form[@action="/logout"]//button`, chromedp.BySearch),
		chromedp.WaitVisible("#sso"),
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#sso"),
	)
	if e := idp.endedSessions(); len(e) != 1 {
		t.Errorf("signing out ended %v at the provider, want carol's session", e)
	}
	var msg string
	run("bob is refused",
		provider("bob", "bob-pw"),
		chromedp.WaitVisible(".error"),
		chromedp.Text(".error", &msg),
		shot("login-sso-refused"),
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#sso"),
	)
	if !strings.Contains(msg, "bob@elsewhere.example) is not allowed") {
		t.Fatalf("bob's refusal: %q", msg)
	}
}

// TestSingleSignOnApprovesAMachine: the link an interactive enrollment
// prints leads an admin who is not signed in through single sign-on and
// back to the request, where approving it enrolls the waiting machine,
// owned by them.
func TestSingleSignOnApprovesAMachine(t *testing.T) {
	issuer, register, _ := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, _, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile, AllowedDomains: []string{"corp.example"}}
	})
	register(base + "/sso/callback")
	ctx := context.Background()
	anon, _ := client.New(base)
	ir, err := anon.RequestEnrollment(ctx, wire.EnrollRequest{PublicKey: pubkey(), Hostname: "alices-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil || ir.URL != base+"/e/"+ir.Code {
		t.Fatalf("request: %+v %v", ir, err)
	}
	c := browser()
	login := get(t, c, ir.URL)
	m := regexp.MustCompile(`href="(/sso/start\?next=[^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("the sign-in page reached from the link offers no single sign-on back to it:\n%s", login)
	}
	status, page, _ := signInFrom(t, c, base+html.UnescapeString(m[1]), "alice", "alice-pw")
	if status != http.StatusOK || !strings.Contains(page, `url=/e/`+ir.Code) {
		t.Fatalf("after signing in: %d\n%s", status, page)
	}
	req := get(t, c, ir.URL)
	if !strings.Contains(req, "alices-laptop") || !strings.Contains(req, `id="approve"`) {
		t.Fatalf("the request page:\n%s", req)
	}
	approveAndOwn(t, c, base, admin, ir, req, "alice@corp.example")
	// A path elsewhere is never a place to go after signing in.
	if page := get(t, http.DefaultClient, base+"/login?next=//evil.example/x"); strings.Contains(page, "evil.example") {
		t.Fatal("an outside next was kept")
	}
}

// TestSingleSignOnMember: a user the member rules admit (not the admin
// rules) approves the machine they add and is its owner, but every admin
// page refuses them and shows no admin navigation; the provider decides
// the role at each sign-in, so once in an admin group they sign in as an
// admin (audited as admin.role).
func TestSingleSignOnMember(t *testing.T) {
	issuer, register, idp := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, _, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile,
			AdminGroups: []string{"fleet-admins"}, MemberDomains: []string{"corp.example"}}
	})
	register(base + "/sso/callback")
	ctx := context.Background()
	anon, _ := client.New(base)
	ir, err := anon.RequestEnrollment(ctx, wire.EnrollRequest{PublicKey: pubkey(), Hostname: "alices-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	c := browser()
	login := get(t, c, ir.URL)
	m := regexp.MustCompile(`href="(/sso/start\?next=[^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no single sign-on on the way to the request:\n%s", login)
	}
	if status, _, _ := signInFrom(t, c, base+html.UnescapeString(m[1]), "alice", "alice-pw"); status != http.StatusOK {
		t.Fatalf("alice's sign-in: %d", status)
	}
	req := get(t, c, ir.URL)
	if strings.Contains(req, `href="/tokens"`) {
		t.Error("a member sees the admin navigation")
	}
	if strings.Contains(req, `id="elsewhere"`) {
		t.Error("a request from the reader's own address is flagged as from elsewhere")
	}
	// Read from another address (127.0.0.2: the same session's cookie), the
	// request says it came from elsewhere.
	far := &http.Client{Jar: c.Jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	if p := html.UnescapeString(get(t, far, ir.URL)); !strings.Contains(p, "This request came from 127.0.0.1, and you are at 127.0.0.2") {
		t.Errorf("a request read from another address carries no warning:\n%s", errorBox(p))
	}
	machineID := approveAndOwn(t, c, base, admin, ir, req, "alice@corp.example")
	for _, p := range []string{"/machines", "/machines/" + machineID, "/machines/" + machineID + "/terminal", "/machines/" + machineID + "/terminal/ws?user=root", "/tokens", "/admins", "/audit", "/policy"} {
		resp, err := c.Get(base + p)
		if page := body(t, resp, err); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "signed in as a member") {
			t.Errorf("a member at %s: %d", p, resp.StatusCode)
		}
	}
	resp, err := c.PostForm(base+"/tokens", url.Values{"csrf": {csrfOf(req)}})
	if body(t, resp, err); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a member creating a token: %d", resp.StatusCode)
	}
	if ts, _ := admin.ListTokens(ctx); len(ts) != 0 {
		t.Errorf("a member made %d tokens", len(ts))
	}

	// Now in the admin group at the provider: an admin at the next sign-in.
	idp.mu.Lock()
	idp.groups["u-alice"] = []string{"fleet-admins"}
	idp.mu.Unlock()
	c2 := browser()
	if status, page, _ := signIn(t, c2, base, "alice", "alice-pw"); status != http.StatusOK || !strings.Contains(page, "url=/machines") {
		t.Fatalf("alice as an admin: %d\n%s", status, page)
	}
	if resp, err := c2.Get(base + "/machines"); body(t, resp, err) == "" || resp.StatusCode != http.StatusOK {
		t.Fatalf("alice, now an admin, at /machines: %d", resp.StatusCode)
	}
	audit := get(t, c2, base+"/audit?action=admin.role")
	if !strings.Contains(html.UnescapeString(audit), "role: member → admin") {
		t.Errorf("the role change is not audited:\n%s", errorBox(audit))
	}
}

// approveAndOwn approves the request ir from its page (req, read by c),
// waits for the agent to get its credential and requires the machine's
// owner to be owner. It returns the machine's ID.
func approveAndOwn(t *testing.T, c *http.Client, base string, admin *client.Client, ir wire.InteractiveEnrollResponse, req, owner string) string {
	t.Helper()
	resp, err := c.PostForm(base+"/e/"+ir.Code+"/approve", url.Values{"csrf": {csrfOf(req)}})
	if done := body(t, resp, err); !strings.Contains(done, "Approved: alices-laptop joins the fleet") {
		t.Fatalf("approve: %s", done)
	}
	waiter, _ := client.New(base, client.WithToken(ir.Secret))
	en, done, err := waiter.WaitEnrollment(context.Background(), 0)
	if err != nil || !done {
		t.Fatalf("the waiting agent: %v %v", done, err)
	}
	if mm, err := admin.Machine(context.Background(), en.MachineID); err != nil || mm.Owner != owner {
		t.Fatalf("owner: %q %v, want %s", mm.Owner, err, owner)
	}
	return en.MachineID
}

// TestSingleSignOnDirectoryGroups: the groups claim sets the person's
// directory groups at each sign-in, so a policy rule by directory group
// grants their machine access at their next sign-in; once the directory
// deactivates them (SCIM), sign-in is refused.
func TestSingleSignOnDirectoryGroups(t *testing.T) {
	issuer, register, idp := identityProvider(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("wirefleet-secret"), 0o600)
	base, password, admin := serverWith(t, func(o *daemon.Options) {
		o.OIDC = daemon.OIDCOptions{Issuer: issuer, ClientID: "wirefleet", ClientSecretFile: secretFile,
			AdminGroups: []string{"fleet-admins"}, MemberDomains: []string{"corp.example"}}
	})
	register(base + "/sso/callback")
	ctx := context.Background()
	anon, _ := client.New(base)
	ir, err := anon.RequestEnrollment(ctx, wire.EnrollRequest{PublicKey: pubkey(), Hostname: "alices-laptop", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CreateToken(ctx, wire.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Enroll(ctx, wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: "build-server", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: `{"groups": {"group:eng": ["directory:Engineering"]}, "rules": [{"src": ["group:eng"], "dst": ["machine:build-server"], "ports": ["22"]}]}`}); err != nil {
		t.Fatal(err)
	}
	c := browser()
	login := get(t, c, ir.URL)
	m := regexp.MustCompile(`href="(/sso/start\?next=[^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no single sign-on on the way to the request:\n%s", login)
	}
	if status, _, _ := signInFrom(t, c, base+html.UnescapeString(m[1]), "alice", "alice-pw"); status != http.StatusOK {
		t.Fatalf("alice's sign-in: %d", status)
	}
	approveAndOwn(t, c, base, admin, ir, get(t, c, ir.URL), "alice@corp.example")
	query := wire.PolicyQuery{Src: "machine:alices-laptop", Dst: "machine:build-server:22"}
	if ans, err := admin.QueryPolicy(ctx, query); err != nil || ans.Allowed {
		t.Fatalf("before Engineering: %+v %v", ans, err)
	}

	// The provider puts her in Engineering: her next sign-in says so.
	idp.mu.Lock()
	idp.groups["u-alice"] = []string{"Engineering", "staff"}
	idp.mu.Unlock()
	if status, _, _ := signIn(t, browser(), base, "alice", "alice-pw"); status != http.StatusOK {
		t.Fatalf("alice's second sign-in: %d", status)
	}
	if ans, err := admin.QueryPolicy(ctx, query); err != nil || !ans.Allowed {
		t.Fatalf("in Engineering: %+v %v", ans, err)
	}
	dir, err := admin.Directory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var aliceID string
	for _, p := range dir.People {
		if p.Name == "alice@corp.example" {
			aliceID = p.ID
			if strings.Join(p.Groups, ",") != "Engineering,staff" {
				t.Fatalf("alice's groups: %v", p.Groups)
			}
		}
	}

	// The directory deactivates her: the laptop leaves, sign-in is refused.
	st, err := admin.CreateSCIMToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPatch, base+wire.PathSCIM+"/Users/"+aliceID,
		strings.NewReader(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`))
	req.Header.Set("Authorization", "Bearer "+st.Secret)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("SCIM deactivation: %v %v", resp, err)
	}
	resp.Body.Close()
	if ans, err := admin.QueryPolicy(ctx, query); err == nil && ans.Allowed {
		t.Fatalf("after deactivation: %+v", ans)
	}
	if status, page, _ := signIn(t, browser(), base, "alice", "alice-pw"); status != http.StatusForbidden || !strings.Contains(page, "deactivated") {
		t.Fatalf("a deactivated person's sign-in: %d\n%s", status, errorBox(page))
	}
	// The admins page shows the directory: her state and groups, and the
	// groups with the selector the policy uses.
	page := html.UnescapeString(get(t, signedIn(t, base, password), base+"/admins"))
	for _, want := range []string{"deactivated by the directory", "Engineering, staff", "directory:Engineering"} {
		if !strings.Contains(page, want) {
			t.Errorf("the admins page does not say %q", want)
		}
	}
}

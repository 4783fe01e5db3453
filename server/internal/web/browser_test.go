package web_test

// The admin page driven in Debian's real Chromium (headless, through
// chromedp) against the real server on 127.0.0.1 with a real SQLite file.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// server starts wirefleet-server in-process on 127.0.0.1 and returns its URL,
// the admin password and an admin API client.
func server(t *testing.T) (string, string, *client.Client) {
	return serverWith(t, nil)
}

// serverWith is server with options changed by opt (nil: none).
func serverWith(t *testing.T, opt func(*daemon.Options)) (string, string, *client.Client) {
	t.Helper()
	var out bytes.Buffer
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	o := daemon.Options{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), InsecureHTTP: true, DNSDomain: "fleet.internal",
		// The cheapest bcrypt: twelve concurrent sign-ins at cost 12
		// under the race detector can outlast the 30 s write timeout on
		// a loaded 2-core machine. What is tested is the rate limit.
		BcryptCost: bcrypt.MinCost,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready:      func(u, _ string) { ready <- u },
	}
	if opt != nil {
		opt(&o)
	}
	go func() { done <- daemon.Run(ctx, o, &out) }()
	t.Cleanup(func() { cancel(); <-done })
	var u string
	select {
	case u = <-ready:
	case err := <-done:
		t.Fatalf("server: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	pw := regexp.MustCompile(`admin password: (\S+)`).FindStringSubmatch(out.String())
	key := regexp.MustCompile(`admin API key:\s+(\S+)`).FindStringSubmatch(out.String())
	if pw == nil || key == nil {
		t.Fatalf("no admin credentials printed:\n%s", out.String())
	}
	admin, _ := client.New(u, client.WithToken(key[1]))
	return u, pw[1], admin
}

func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
	return ""
}

func pubkey() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// shots saves screenshots to WIREFLEET_SCREENSHOT_DIR (make screenshots
// points it at docs/screenshots) or to the test's temporary directory.
func shots(t *testing.T) func(name string) chromedp.Action {
	dir := os.Getenv("WIREFLEET_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	return func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 100).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
		})
	}
}

// chromiumContext starts Debian's Chromium (headless, a fresh profile) and returns
// its context, given up after timeout; the test's cleanup closes it.
func chromiumContext(t *testing.T, exe string, timeout time.Duration) context.Context {
	t.Helper()
	// Not t.TempDir: Chromium may still be writing its profile while the
	// test's cleanup runs, and t.TempDir would fail the test for it.
	profile, err := os.MkdirTemp("", "wirefleet-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancel(); cancelA() })
	return ctx
}

// runner returns a function that runs actions in ctx and fails the test,
// naming the step, when they fail.
func runner(t *testing.T, ctx context.Context) func(what string, actions ...chromedp.Action) {
	return func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

func TestAdminPageInChromium(t *testing.T) {
	exe := chromium(t)
	base, password, admin := server(t)
	shot := shots(t)

	ctx := chromiumContext(t, exe, 90*time.Second)

	// Every dialog is recorded and accepted; the XSS check looks for alert(1).
	var mu sync.Mutex
	var dialogs []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			dialogs = append(dialogs, d.Message)
			mu.Unlock()
			go chromedp.Run(ctx, page.HandleJavaScriptDialog(true))
		}
	})
	run := runner(t, ctx)

	// Wrong password: a readable message, no session.
	var msg string
	run("wrong password",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", "not-the-password"),
		chromedp.Click("#signin"),
		chromedp.WaitVisible(".error"),
		chromedp.Text(".error", &msg),
		shot("login-error"),
	)
	if !strings.Contains(msg, "Wrong user name or password") {
		t.Fatalf("wrong password message = %q", msg)
	}

	// Sign in.
	run("sign in",
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("table#machines"),
		shot("machines-empty"),
	)

	// Create a single-use token; the page shows it once with one-liners.
	var tok, line0 string
	run("create token",
		chromedp.Navigate(base+"/tokens"),
		chromedp.WaitVisible("#create-token"),
		chromedp.SendKeys("#ttags", "env:ci"),
		chromedp.Click("#create-token"),
		chromedp.WaitVisible("#token-secret"),
		chromedp.Text("#token-secret", &tok),
		chromedp.Text("#line-0", &line0),
		shot("token-created"),
	)
	var warnings []string
	run("warnings about the one-liners' URL", chromedp.Evaluate(`[...document.querySelectorAll(".url-warning")].map(p => p.textContent)`, &warnings))
	if len(warnings) != 2 || !strings.Contains(warnings[0], "loopback") || !strings.Contains(warnings[1], "plain HTTP") {
		t.Errorf("a plain-HTTP loopback server's one-liners should carry both warnings, got %q", warnings)
	}
	if !strings.HasPrefix(tok, "wfe_") || !strings.Contains(line0, tok) || !strings.Contains(line0, base) {
		t.Fatalf("token %q, one-liner %q", tok, line0)
	}
	// Reload shows no secret again and mints no token (Post/Redirect/Get).
	var gone, at string
	run("reload the created token's page",
		chromedp.Location(&at),
		chromedp.Reload(),
		chromedp.WaitVisible(".error"),
		chromedp.Text(".error", &gone),
	)
	if ts, err := admin.ListTokens(context.Background()); err != nil || len(ts) != 1 {
		t.Fatalf("tokens after a reload: %d (%v), want 1", len(ts), err)
	}
	if !strings.Contains(at, "/tokens/created/") || !strings.Contains(gone, "shown once") {
		t.Fatalf("reload at %s: %q", at, gone)
	}

	// Watch the machines page; the machine enrolled meanwhile appears
	// without a reload.
	run("open machines", chromedp.Navigate(base+"/machines"), chromedp.WaitVisible("table#machines"))
	anon, _ := client.New(base)
	en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tok, PublicKey: pubkey(), Hostname: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "0.9.0"})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := client.New(base, client.WithToken(en.Credential))
	// Two self-updates: a failure, then a success. Both stay in the
	// history (one last_update used to erase the failure).
	for _, u := range []wire.UpdateStatus{
		{From: "0.9.0", To: "1.0.0", State: "rolled_back", Reason: "version 1.0.0 started 3 times without reaching the server", At: time.Now().Add(-time.Hour)},
		{From: "0.9.0", To: "1.1.0", State: "ok", At: time.Now()},
	} {
		if _, err := agent.ReportHealth(context.Background(), wire.HealthReport{At: time.Now(), AgentVersion: "0.9.0", OS: "linux", Update: &u}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m, err := admin.Machine(context.Background(), en.MachineID); err == nil && len(m.Updates) == 2 {
			break
		}
	}
	agent.ReportHealth(context.Background(), wire.HealthReport{At: time.Now(), AgentVersion: "0.9.0", OS: "linux", Platform: "debian 12",
		CPUPercent: 12, MemTotal: 8 << 30, MemUsed: 3 << 30, DiskTotal: 100 << 30, DiskUsed: 40 << 30,
		Tunnel: wire.TunnelHealth{Up: true, Interface: "wf0", PeerCount: 2, Peers: []wire.PeerHealth{
			{ID: "m_1", Name: "db-1", Path: "direct", Endpoint: "203.0.113.7:41641", LatencyMS: 3.2},
			{ID: "m_2", Name: "laptop-9", Path: "relay"},
		}}})
	run("machine appears without reload",
		chromedp.WaitVisible(`//table[@id="machines"]//a[text()="web-1"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//table[@id="machines"]//span[contains(@class,"online")]`, chromedp.BySearch),
		shot("machines"),
	)

	// A hostile hostname renders as text.
	tok2, err := admin.CreateToken(context.Background(), wire.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	const evil = `<img src=x onerror=alert(1)>`
	if _, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tok2.Secret, PublicKey: pubkey(), Hostname: evil, OS: "linux", Arch: "amd64", AgentVersion: `"><script>alert(2)</script>`}); err != nil {
		t.Fatal(err)
	}
	var imgs int
	var evilText string
	run("xss inert (live refresh)",
		chromedp.WaitVisible(`//div[contains(@class,"sub") and text()='`+evil+`']`, chromedp.BySearch),
		chromedp.Evaluate(`document.querySelectorAll('#machines img, #machines script').length`, &imgs),
	)
	run("xss inert (server render)",
		chromedp.Reload(),
		chromedp.WaitVisible(`//div[contains(@class,"sub") and text()='`+evil+`']`, chromedp.BySearch),
		chromedp.Text(`//div[contains(@class,"sub") and text()='`+evil+`']`, &evilText, chromedp.BySearch),
	)
	var imgs2 int
	run("count injected elements", chromedp.Evaluate(`document.querySelectorAll('#machines img, #machines script').length`, &imgs2))
	if imgs != 0 || imgs2 != 0 || evilText != evil {
		t.Fatalf("hostile hostname became markup: %d/%d elements, text %q", imgs, imgs2, evilText)
	}

	// Machine detail, with each tunnel peer's path from the health
	// report, then Revoke with the confirmation naming the machine.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if h, err := admin.Health(context.Background(), en.MachineID, 1); err == nil && h.Latest != nil {
			break
		}
	}
	var state, peers, updates, recent string
	run("open machine",
		chromedp.Click(`//table[@id="machines"]//a[text()="web-1"]`, chromedp.BySearch),
		chromedp.WaitVisible("#revoke"),
		chromedp.Text("#tunnel-peers", &peers),
		chromedp.Text("#update-history", &updates),
		shot("machine"),
	)
	for _, want := range []string{"db-1\tdirect\t203.0.113.7:41641\t3.2 ms", "laptop-9\trelay"} {
		if !strings.Contains(peers, want) {
			t.Errorf("tunnel peers on the machine page lack %q:\n%s", want, peers)
		}
	}
	for _, want := range []string{"0.9.0\t1.1.0\tinstalled", "0.9.0\t1.0.0\tfailed and rolled back\tversion 1.0.0 started 3 times"} {
		if !strings.Contains(updates, want) {
			t.Errorf("the machine page's update history lacks %q:\n%s", want, updates)
		}
	}
	if i, j := strings.Index(updates, "1.1.0"), strings.Index(updates, "1.0.0\tfailed"); i < 0 || j < i {
		t.Errorf("update history not newest first:\n%s", updates)
	}
	// Only a published version can be pinned (none is, here).
	var pinErr string
	run("pin a version never published",
		chromedp.SetValue("#pin", "1.5.0"),
		chromedp.Click(`//form[contains(@action,"/pin")]//button`, chromedp.BySearch),
		chromedp.WaitVisible(".error"),
		chromedp.Text(".error", &pinErr),
	)
	if m, err := admin.Machine(context.Background(), en.MachineID); err != nil || m.PinnedVersion != "" || !strings.Contains(pinErr, "never published") {
		t.Fatalf("pin of an unpublished version from the page: stored %q (%v), shown %q", m.PinnedVersion, err, pinErr)
	}
	in30d := "720h"
	if _, err := admin.UpdateMachine(context.Background(), en.MachineID, wire.UpdateMachineRequest{Expiry: &in30d}); err != nil {
		t.Fatal(err)
	}
	var expiry, expiryOff string
	run("expiry shown and turned off",
		chromedp.Reload(),
		chromedp.WaitVisible("#expiry-toggle"),
		chromedp.Text("#expiry", &expiry),
		chromedp.Click("#expiry-toggle"),
		chromedp.WaitVisible(`//dd[@id="expiry" and contains(text(),"never")]`, chromedp.BySearch),
		chromedp.Text("#expiry", &expiryOff),
	)
	if !strings.Contains(expiry, "in 29 days") && !strings.Contains(expiry, "in 30 days") || expiryOff != "never (turned off)" {
		t.Errorf("expiry on the page: %q, then %q", expiry, expiryOff)
	}
	if m, err := admin.Machine(context.Background(), en.MachineID); err != nil || !m.ExpiryDisabled {
		t.Fatalf("expiry off from the page: %+v %v", m.ExpiryDisabled, err)
	}
	var keyAge, pending string
	run("ask for a key rotation",
		chromedp.Text("#key-age", &keyAge),
		chromedp.Click("#rotate-key"),
		chromedp.WaitVisible("#key-rotation-pending"),
		chromedp.Text("#key-rotation-pending", &pending),
	)
	if !strings.Contains(keyAge, "registered") || !strings.Contains(pending, "waiting for the agent") {
		t.Errorf("key age %q, pending rotation %q", keyAge, pending)
	}
	if m, err := admin.Machine(context.Background(), en.MachineID); err != nil || m.RotateKeyBefore == nil {
		t.Fatalf("rotate-key from the page: %+v %v", m.RotateKeyBefore, err)
	}
	if nm, err := agent.Netmap(context.Background(), 0, 0); err != nil || nm.Self == nil || nm.Self.RotateKeyBefore == nil {
		t.Fatalf("the agent's map carries no rotation request: %v", err)
	}
	run("revoke",
		chromedp.Click("#revoke"),
		chromedp.WaitVisible(`//span[@id="machine-state" and text()="revoked"]`, chromedp.BySearch),
		chromedp.Text("#machine-state", &state),
		shot("machine-revoked"),
	)
	mu.Lock()
	got := append([]string(nil), dialogs...)
	mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "Revoke web-1?") {
		t.Fatalf("dialogs = %q, want exactly the revoke confirmation naming web-1 (and no alert from the hostile strings)", got)
	}
	// The API agrees: the credential is refused.
	var we *wire.Error
	if _, err := agent.Netmap(context.Background(), 0, 0); !errors.As(err, &we) || we.Code != wire.CodeMachineRevoked {
		t.Fatalf("revoked credential: %v", err)
	}
	m, _ := admin.Machine(context.Background(), en.MachineID)
	if m.State != wire.MachineRevoked {
		t.Fatalf("API shows state %q", m.State)
	}
	page, _ := admin.Audit(context.Background(), client.AuditFilter{Target: en.MachineID, Action: "machine.revoke"})
	if len(page.Events) != 1 || page.Events[0].Actor != "admin:admin" {
		t.Fatalf("revoke audit = %+v", page.Events)
	}

	// A state-changing POST without the CSRF token is refused and changes nothing.
	var cookies []*network.Cookie
	run("cookies", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().Do(ctx)
		return err
	}))
	req, _ := http.NewRequest("POST", base+"/machines/"+en.MachineID+"/delete", strings.NewReader(url.Values{}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "did not come from this page") {
		t.Fatalf("CSRF-less POST: %d\n%s", resp.StatusCode, body)
	}
	if _, err := admin.Machine(context.Background(), en.MachineID); err != nil {
		t.Fatalf("machine gone after a refused POST: %v", err)
	}

	// Security headers.
	resp, err = http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
		resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") == "" {
		t.Fatalf("security headers: %v", resp.Header)
	}

	// Flags page: a bad rule is a readable error; a good flag is saved,
	// audited, and served to agents.
	var flagErr string
	run("flag with bad rules",
		chromedp.Navigate(base+"/flags"), chromedp.WaitVisible("#save-flag"),
		chromedp.SendKeys("#fkey", "new-ui"),
		chromedp.SetValue("#frules", `[{"tags":["env:ci"],"value":"yes"}]`),
		chromedp.Click("#save-flag"),
		chromedp.WaitVisible(".error"), chromedp.Text(".error", &flagErr),
	)
	if !strings.Contains(flagErr, "rule 1 value") {
		t.Fatalf("bad flag error = %q", flagErr)
	}
	run("save flag",
		chromedp.SetValue("#frules", `[{"tags":["env:ci"],"value":true}]`),
		chromedp.Click("#save-flag"),
		chromedp.WaitVisible(`//table[@id="flags"]//a[text()="new-ui"]`, chromedp.BySearch),
		shot("flags"),
	)
	fl, err := admin.Flag(context.Background(), "new-ui")
	if err != nil || !fl.Enabled || len(fl.Rules) != 1 || fl.UpdatedBy != "admin:admin" {
		t.Fatalf("flag saved from the page = %+v (%v)", fl, err)
	}

	// The Policy page: problems are shown where they are; a valid policy
	// is checked (tests shown), then saved; the machine page says who can
	// reach the machine.
	var srvID string
	for _, m := range []struct{ name, tag string }{{"laptop-1", "laptop"}, {"srv-1", "server"}} {
		tk, err := admin.CreateToken(context.Background(), wire.CreateTokenRequest{Tags: []string{m.tag}})
		if err != nil {
			t.Fatal(err)
		}
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tk.Secret, PublicKey: pubkey(), Hostname: m.name, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		srvID = en.MachineID
	}
	bad := "{\n  \"tags\": [\"tag:laptop\", \"tag:server\"],\n  \"rules\": [\n    {\"src\": [\"tag:laptpo\"], \"dst\": [\"tag:server\"], \"ports\": [\"22\"]},\n  ],\n}"
	var problems, badLine string
	run("policy with a typo",
		chromedp.Navigate(base+"/policy"), chromedp.WaitVisible("#policy-text"),
		chromedp.SetValue("#policy-text", bad),
		chromedp.Click("#save-policy"),
		chromedp.WaitVisible("#policy-problems"),
		chromedp.Text("#policy-problems", &problems),
		chromedp.Text("#policy-source .bad", &badLine),
		shot("policy-problems"),
	)
	if !strings.Contains(problems, `line 4, column 14: unknown tag "tag:laptpo"`) || !strings.Contains(problems, "did you mean tag:laptop?") || !strings.Contains(badLine, `"tag:laptpo"`) {
		t.Fatalf("problems shown = %q, marked line = %q", problems, badLine)
	}
	if p, _ := admin.Policy(context.Background()); p.Text != "" {
		t.Fatalf("a policy with problems was saved: %+v", p)
	}
	good := strings.Replace(bad, "laptpo", "laptop", 1)
	good = strings.Replace(good, "\n}", "\n  \"tests\": [{\"src\": \"tag:laptop\", \"accept\": [\"tag:server:22\"], \"deny\": [\"tag:server:23\"]}],\n}", 1)
	var tests, flash, reachRules, reachSources string
	run("check, then save a policy",
		chromedp.SetValue("#policy-text", good),
		chromedp.Click("#check-policy"),
		chromedp.WaitVisible("#policy-tests"),
		chromedp.Text("#policy-tests", &tests),
		chromedp.Click("#save-policy"),
		chromedp.WaitVisible(`//p[@id="policy-state" and contains(., "Version 1 in force")]`, chromedp.BySearch),
		chromedp.Text(".flash", &flash),
		shot("policy"),
	)
	if !strings.Contains(tests, "tag:laptop\ttag:server:22\treachable\tpass") || !strings.Contains(tests, "tag:server:23\tunreachable\tpass") || !strings.Contains(flash, "Policy version 1 in force") {
		t.Fatalf("tests %q, flash %q", tests, flash)
	}
	run("who can reach srv-1",
		chromedp.Navigate(base+"/machines/"+srvID), chromedp.WaitVisible("#reach-sources"),
		chromedp.Text("#reach-rules", &reachRules), chromedp.Text("#reach-sources", &reachSources),
	)
	if !strings.Contains(reachRules, "from tag:laptop: ports 22") || !strings.Contains(reachSources, "laptop-1") || !strings.Contains(reachSources, "tag:laptop → tag:server: ports 22") || strings.Contains(reachSources, "web-1") {
		t.Fatalf("reach rules %q, sources %q", reachRules, reachSources)
	}

	// The Names page: a bad record is refused in place, a good one listed.
	var dnsErr, dnsRows string
	run("names page",
		chromedp.Navigate(base+"/dns"), chromedp.WaitVisible("#add-dns"),
		chromedp.SetValue("#dname", "<b>db</b>"), chromedp.SetValue("#dvalue", "10.0.0.5"),
		chromedp.Submit("#add-dns"),
		chromedp.WaitVisible("p.error"), chromedp.Text("p.error", &dnsErr),
		chromedp.SetValue("#dname", "db"), chromedp.SetValue("#dvalue", "10.0.0.5"),
		chromedp.Submit("#add-dns"),
		chromedp.WaitVisible(`//table[@id="dns-records"]//code[contains(., "db.fleet.internal")]`, chromedp.BySearch),
		chromedp.Text("#dns-records", &dnsRows), shot("names"),
	)
	if !strings.Contains(dnsErr, `record name "<b>db</b>"`) || !strings.Contains(dnsErr, "Nothing was changed") || !strings.Contains(dnsRows, "10.0.0.5") {
		t.Fatalf("names page: error %q, rows %q", dnsErr, dnsRows)
	}
	if rs, _ := admin.DNSRecords(context.Background()); len(rs.Records) != 1 || rs.Records[0].Name != "db" {
		t.Fatalf("records after the page: %+v", rs)
	}

	// The Routes page: a subnet router's advertised route waits, flagged
	// as granted by no rule of the policy in force, until the admin
	// approves it; the machine page lists it too.
	gwTok, err := admin.CreateToken(context.Background(), wire.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	gwEn, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: gwTok.Secret, PublicKey: pubkey(), Hostname: "gw-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := client.New(base, client.WithToken(gwEn.Credential))
	if _, err := gw.AdvertiseRoutes(context.Background(), wire.RoutesAdvert{Routes: []string{"10.20.0.0/16"}}); err != nil {
		t.Fatal(err)
	}
	var pendingRow, approvedRow, routeFlash, machineRoutes string
	run("routes page",
		chromedp.Navigate(base+"/routes"), chromedp.WaitVisible(`#routes tr[data-state="pending"]`),
		chromedp.Text(`#routes tr[data-state="pending"]`, &pendingRow),
		chromedp.Click(`#routes tr[data-state="pending"] button[type="submit"]`),
		chromedp.WaitVisible(`#routes tr[data-state="approved"]`),
		chromedp.Text(`#routes tr[data-state="approved"]`, &approvedRow),
		chromedp.Text(".flash", &routeFlash), shot("routes"),
		chromedp.Navigate(base+"/machines/"+gwEn.MachineID), chromedp.WaitVisible("#machine-routes"),
		chromedp.Text("#machine-routes", &machineRoutes),
	)
	if !strings.Contains(pendingRow, "10.20.0.0/16") || !strings.Contains(pendingRow, "gw-1") || !strings.Contains(pendingRow, "No policy rule grants it") ||
		!strings.Contains(approvedRow, "primary") || !strings.Contains(routeFlash, "Approved gw-1's route 10.20.0.0/16") || !strings.Contains(machineRoutes, "approved") {
		t.Fatalf("routes: pending %q, approved %q, flash %q, machine page %q", pendingRow, approvedRow, routeFlash, machineRoutes)
	}
	if rs, _ := admin.Routes(context.Background()); len(rs.Routes) != 1 || rs.Routes[0].State != wire.RouteApproved {
		t.Fatalf("routes after the page: %+v", rs)
	}

	// Tokens and audit pages, and the machines page at phone width.
	run("tokens and audit",
		chromedp.Navigate(base+"/tokens"), chromedp.WaitVisible("table#tokens"), shot("tokens"),
		chromedp.Navigate(base+"/audit"), chromedp.WaitVisible("table#audit"), shot("audit"),
		chromedp.Navigate(base+"/updates"), chromedp.WaitVisible("table#channels"), chromedp.Text("#recent-updates", &recent), shot("releases"),
		emulation.SetDeviceMetricsOverride(390, 844, 2, true),
		chromedp.Navigate(base+"/machines"), chromedp.WaitVisible("table#machines"), shot("machines-phone"),
	)
	for _, want := range []string{"web-1\t0.9.0\t1.1.0\tinstalled", "web-1\t0.9.0\t1.0.0\tfailed and rolled back"} {
		if !strings.Contains(recent, want) {
			t.Errorf("the Releases page's recent self-updates lack %q:\n%s", want, recent)
		}
	}
	var overflow bool
	run("phone layout", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow))
	if overflow {
		t.Fatal("the page scrolls sideways at phone width; only the table may")
	}
}

func TestLoginIsRateLimitedAndErrorsAreReadable(t *testing.T) {
	base, _, _ := server(t)
	// Twelve attempts at once (the limit is checked before the slow
	// password hash): the ones past the burst of ten are refused.
	var wg sync.WaitGroup
	var mu sync.Mutex
	limited, wrong := 0, 0
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Jar: &cookieJar{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(base + "/login")
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
			resp, err = c.PostForm(base+"/login", url.Values{"csrf": {csrf[1]}, "username": {"admin"}, "password": {"wrong"}})
			if err != nil {
				t.Error(err)
				return
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(string(b), "Too many sign-in attempts"):
				limited++
			case resp.StatusCode == http.StatusUnauthorized && strings.Contains(string(b), "Wrong user name or password"):
				wrong++
			default:
				t.Errorf("unexpected answer %d:\n%s", resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	if limited < 2 || wrong+limited != 12 {
		t.Fatalf("%d wrong-password answers and %d rate-limited, want at least 2 limited of 12", wrong, limited)
	}
	jar := &cookieJar{}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Unknown pages and machines are readable pages, not stack traces.
	resp, _ := http.Get(base + "/no/such/page")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "There is no page at this address") {
		t.Fatalf("404 page: %d %s", resp.StatusCode, b)
	}
	// Pages need a session.
	resp, _ = c.Get(base + "/machines")
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("machines without a session: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestFailedSignInKeepsNoTypedSecret: a password typed into the user
// field never reaches the audit log; a wrong password for a real admin
// names that admin.
func TestFailedSignInKeepsNoTypedSecret(t *testing.T) {
	base, _, admin := server(t)
	signIn := func(user, pw string) int {
		c := &http.Client{Jar: &cookieJar{}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))
		resp, err = c.PostForm(base+"/login", url.Values{"csrf": {csrf[1]}, "username": {user}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const typed = "Correct-Horse-Battery-Staple-42"
	if code := signIn(typed, ""); code != http.StatusUnauthorized {
		t.Fatalf("sign-in with a password as user name: %d", code)
	}
	if code := signIn("admin", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	page, err := admin.Audit(context.Background(), client.AuditFilter{Action: "admin.login_failed"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(page)
	if strings.Contains(string(raw), typed) || strings.Contains(strings.ToLower(string(raw)), "correct-horse") {
		t.Fatalf("the audit log kept what was typed into the user field:\n%s", raw)
	}
	if len(page.Events) != 2 || !strings.Contains(string(raw), `"known_user":false`) || !strings.Contains(string(raw), `"admin":"admin"`) {
		t.Fatalf("audit events for failed sign-ins:\n%s", raw)
	}
}

// cookieJar is a minimal jar that keeps cookies regardless of path (the
// login cookie is scoped to /login).
type cookieJar struct {
	mu sync.Mutex
	c  map[string]*http.Cookie
}

func (j *cookieJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.c == nil {
		j.c = map[string]*http.Cookie{}
	}
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.c, c.Name)
		} else {
			j.c[c.Name] = c
		}
	}
}

func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.c {
		out = append(out, c)
	}
	return out
}

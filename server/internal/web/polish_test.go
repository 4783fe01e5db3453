package web_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestPagePolishInChromium: a link's ?flash= and ?error= show nothing (the
// page's notices come from the server); pages draw without a console error (the
// pattern attributes compile under Chromium's `v` regex mode); the icon is
// served; the page follows a dark color scheme; "/" focuses the search;
// a skip link leads to the content.
func TestPagePolishInChromium(t *testing.T) {
	exe := chromium(t)
	base, password, admin := server(t)
	ctx0 := context.Background()
	tok, err := admin.CreateToken(ctx0, wire.CreateTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	anon, _ := client.New(base)
	en, err := anon.Enroll(ctx0, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "polish-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/favicon.ico")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "svg") {
		t.Fatalf("favicon: %v %v", resp, err)
	}
	resp.Body.Close()

	ctx := chromiumContext(t, exe, 60*time.Second)
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.LevelError || strings.Contains(e.Entry.Text, "pattern") {
				problems = append(problems, e.Entry.URL+": "+e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		}
	})
	run := runner(t, ctx)
	shot := shots(t)
	var bg, focused, skipTarget, tokensPage string
	run("sign in and walk the pages",
		cdplog.Enable(),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#q"),
		shot("machines-dark"),
		chromedp.Evaluate(`getComputedStyle(document.body).backgroundColor`, &bg),
		chromedp.KeyEvent("/"),
		chromedp.Evaluate(`document.activeElement.id`, &focused),
		chromedp.Evaluate(`document.querySelector("a.skip").getAttribute("href")`, &skipTarget),
		chromedp.Navigate(base+"/tokens?flash=Call+0800-SCAM+now&error=Your+account+is+locked"),
		chromedp.WaitVisible("#create-token"),
		chromedp.Text("main", &tokensPage),
		chromedp.Navigate(base+"/machines/"+en.MachineID),
		chromedp.WaitVisible("#name"),
		chromedp.SendKeys("#name", kb.End+"x"),
		chromedp.Evaluate(`document.querySelector("#name").checkValidity() && document.querySelector("#pin").checkValidity()`, nil), // compiles the patterns
		chromedp.Navigate(base+"/flags"),
		chromedp.WaitVisible("#fkey"),
		chromedp.SendKeys("#fkey", "new-flag"),
		chromedp.Evaluate(`document.querySelector("#fkey").checkValidity()`, nil),
		chromedp.Sleep(300*time.Millisecond),
	)
	if strings.Contains(tokensPage, "0800-SCAM") || strings.Contains(tokensPage, "locked") {
		t.Errorf("a link put words in the page's notice boxes:\n%s", tokensPage)
	}
	if bg != "rgb(13, 17, 23)" {
		t.Errorf("dark color scheme: body background %s", bg)
	}
	if focused != "q" {
		t.Errorf(`"/" focused %q, not the search`, focused)
	}
	if skipTarget != "#main" {
		t.Errorf("skip link to %q", skipTarget)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("console problems:\n%s", strings.Join(problems, "\n"))
	}
}

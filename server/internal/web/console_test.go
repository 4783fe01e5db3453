package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/daemon"
)

// seeded is a machine the test enrolled, with its credential.
type seeded struct {
	wire.EnrollResponse
	agent *client.Client
}

// seedFleet enrolls n machines through the API (16 at a time): 50 tagged
// "retire" (retire-00…), one with a 253-character hostname, the rest
// node-NNNNN.
func seedFleet(t *testing.T, base string, admin *client.Client, n int) map[string]seeded {
	t.Helper()
	ctx := context.Background()
	// A policy under which machines are not each other's peers: each
	// enrollment's answer then carries no map of thousands of peers,
	// whose decoding would dominate the seeding.
	if _, err := admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: `{"tags": ["tag:retire"], "rules": [{"src": ["tag:retire"], "dst": ["tag:retire"], "ports": ["22"]}]}`}); err != nil {
		t.Fatal(err)
	}
	tok, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true})
	if err != nil {
		t.Fatal(err)
	}
	retire, err := admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, Tags: []string{"retire"}})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61) // 253
	anon, _ := client.New(base)
	var mu sync.Mutex
	out := make(map[string]seeded, n)
	jobs := make(chan int)
	var failed atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				req := wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: fmt.Sprintf("node-%05d", i), OS: "linux", Arch: "amd64",
					AgentVersion: fmt.Sprintf("1.%d.%d", i%3, i%11)}
				switch {
				case i < 50:
					req.Token, req.Hostname = retire.Secret, fmt.Sprintf("retire-%02d", i)
				case i == 50:
					req.Hostname = long
				}
				en, err := anon.Enroll(ctx, req)
				if err != nil {
					failed.Store(err)
					continue
				}
				agent, _ := client.New(base, client.WithToken(en.Credential))
				mu.Lock()
				out[en.MachineID] = seeded{en, agent}
				if len(out)%2000 == 0 {
					t.Logf("seeding: %d machines after %v", len(out), time.Since(t0).Round(time.Millisecond))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	t.Logf("seeded %d machines through the API in %v (%.0f/s)", n, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
	return out
}

// timing reads the page's navigation and paint timings (ms).
const timing = `(() => {
  const n = performance.getEntriesByType("navigation")[0];
  const p = performance.getEntriesByName("first-contentful-paint")[0];
  return [Math.round(n.responseStart - n.requestStart), Math.round(n.responseEnd - n.startTime), Math.round(p ? p.startTime : -1), Math.round(n.domContentLoadedEventEnd - n.startTime), n.transferSize];
})()`

// TestConsoleAtFleetScale walks the machines page of a fleet of 10,000
// machines (WIREFLEET_CONSOLE_MACHINES changes the number) in Chromium at
// 1366×768: counts, the first render, a sort and a search by IP (timed and
// logged, never asserted); every column on screen with a 253-character
// hostname; a focused link and a text selection that survive a live
// update of 100 changed rows; a bulk revoke of 50 machines, after which
// all 50 credentials fail with machine_revoked.
func TestConsoleAtFleetScale(t *testing.T) {
	exe := chromium(t)
	n := 10000
	if s := os.Getenv("WIREFLEET_CONSOLE_MACHINES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	base, password, admin := serverWith(t, func(o *daemon.Options) { o.EnrollRate = 0 })
	fleet := seedFleet(t, base, admin, n)

	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			dir := os.Getenv("WIREFLEET_SCREENSHOT_DIR")
			if dir == "" {
				dir = t.TempDir()
			}
			var buf []byte
			if err := chromedp.CaptureScreenshot(&buf).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
		})
	}
	ctx := chromiumContext(t, exe, 90*time.Second)
	run := runner(t, ctx)
	var tm []int
	logTiming := func(what string) {
		t.Helper()
		run(what+" (timing)",
			chromedp.Poll(`performance.getEntriesByName("first-contentful-paint").length > 0`, nil, chromedp.WithPollingTimeout(5*time.Second)),
			chromedp.Evaluate(timing, &tm))
		t.Logf("%s: server %d ms, response done %d ms, first paint %d ms, DOMContentLoaded %d ms, %d bytes", what, tm[0], tm[1], tm[2], tm[3], tm[4])
	}
	var all, rangeText string
	var rows int
	run("sign in",
		emulation.SetDeviceMetricsOverride(1366, 768, 1, false),
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#q"),
	)
	run("the machines page, first render",
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#machines tbody tr"),
		chromedp.Text(`[data-count="All"]`, &all),
		chromedp.Text("#range", &rangeText),
		chromedp.Evaluate(`document.querySelectorAll("#machines tbody tr").length`, &rows),
	)
	logTiming(fmt.Sprintf("machines page, %d machines", n))
	if all != strconv.Itoa(n) || rows != 100 || !strings.HasPrefix(rangeText, "1–100 of "+strconv.Itoa(n)) {
		t.Fatalf("counts: All %q, %d rows, range %q; want %d, 100, 1–100 of %d", all, rows, rangeText, n, n)
	}
	var refresh []int
	run("a refresh's size", chromedp.Evaluate(`(async () => {
		const r = await fetch("/machines.json", {cache: "no-store"});
		const body = await r.text();
		const again = await fetch("/machines.json", {cache: "no-store", headers: {"If-None-Match": r.headers.get("ETag")}});
		return [body.length, again.status];
	})()`, &refresh, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	t.Logf("a refresh of the page's 100 rows: %d bytes of JSON; unchanged since: HTTP %d", refresh[0], refresh[1])
	run("light", shot("fleet"))

	// Sort by last seen, newest first (the column's first click).
	var first string
	run("sort by last seen",
		chromedp.Click(`//th/a[starts-with(., "Last seen")]`, chromedp.BySearch),
		chromedp.WaitVisible(`th[aria-sort="descending"]`),
		chromedp.Text("#machines tbody tr:first-child td:nth-child(2) a", &first),
	)
	logTiming("sorted by last seen")
	if first == "" {
		t.Fatal("no first row after sorting")
	}

	// Search by IP address.
	var target seeded
	for _, s := range fleet {
		if s.Name == fmt.Sprintf("node-%05d", n*7/10) {
			target = s
			break
		}
	}
	var found []string
	run("search by IP",
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#q"),
		chromedp.SendKeys("#q", target.IPv4+"\n"),
		chromedp.WaitVisible(`//span[@id="range" and starts-with(., "1–1 of 1")]`, chromedp.BySearch),
		chromedp.Evaluate(`[...document.querySelectorAll("#machines tbody tr td:nth-child(2) a")].map(a => a.textContent)`, &found),
	)
	logTiming("search by IP " + target.IPv4)
	if len(found) != 1 || found[0] != target.Name {
		t.Fatalf("searching %s found %v, want %s", target.IPv4, found, target.Name)
	}

	// A 253-character hostname leaves every column on screen.
	var offscreen []string
	run("a 253-character hostname",
		chromedp.Navigate(base+"/machines?q=aaaaaaaaaa"),
		chromedp.WaitVisible("#machines tbody tr"),
		chromedp.Evaluate(`[...document.querySelectorAll("#machines th")].filter(th => th.getBoundingClientRect().right > window.innerWidth).map(th => th.textContent + " at " + Math.round(th.getBoundingClientRect().right))`, &offscreen),
		shot("fleet-long-hostname"),
	)
	if len(offscreen) > 0 {
		t.Errorf("columns off screen at 1366 px with a 253-character hostname: %v", offscreen)
	}

	// So does a flag with a long default and description.
	if _, err := admin.SetFlag(context.Background(), wire.Flag{Key: "banner", Type: wire.FlagString, Enabled: true,
		Default: []byte(`"` + strings.Repeat("long text ", 150) + `"`), Description: strings.Repeat("a long description ", 20)}); err != nil {
		t.Fatal(err)
	}
	run("a flag with a long default",
		chromedp.Navigate(base+"/flags"),
		chromedp.WaitVisible("#flags tbody tr"),
		chromedp.Evaluate(`[...document.querySelectorAll("#flags th, #flags td.actions button")].filter(e => e.getBoundingClientRect().right > window.innerWidth).map(e => e.textContent + " at " + Math.round(e.getBoundingClientRect().right))`, &offscreen),
	)
	if len(offscreen) > 0 {
		t.Errorf("flags page at 1366 px with a long default: off screen %v", offscreen)
	}

	// A focused link and a selected address survive a live update in
	// which all 100 rows on the page change.
	var ids []string
	var ip string
	run("focus a link and select an address",
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#machines tbody tr"),
		chromedp.Evaluate(`[...document.querySelectorAll("#machines tbody tr")].map(tr => tr.dataset.id)`, &ids),
		chromedp.Evaluate(`(() => {
			const rows = document.querySelectorAll("#machines tbody tr");
			rows[5].querySelector("a").focus();
			window.focused = document.activeElement;
			const r = document.createRange();
			r.selectNodeContents(rows[10].querySelector(".ip"));
			getSelection().removeAllRanges();
			getSelection().addRange(r);
			return getSelection().toString();
		})()`, &ip),
	)
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := fleet[id].agent.ReportHealth(context.Background(), wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", CPUPercent: 77}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var kept bool
	var applied float64
	var selected, live string
	run("the 100 changed rows arrive",
		chromedp.Poll(`[...document.querySelectorAll("#machines tbody tr")].filter(tr => tr.cells[8].textContent === "77%").length === 100`, nil,
			chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate(`document.activeElement === window.focused && document.body.contains(window.focused)`, &kept),
		chromedp.Evaluate(`getSelection().toString()`, &selected),
		chromedp.Text("#live-status", &live),
		chromedp.Evaluate(`window.wfLastRefreshMS`, &applied),
	)
	t.Logf("100 changed rows on the page %v after their reports (the page asks every 3 s); applying them took %.1f ms", time.Since(t0).Round(time.Millisecond), applied)
	if !kept {
		t.Error("the focused link lost focus in the live update")
	}
	if ip == "" || selected != ip {
		t.Errorf("selection %q before the update, %q after", ip, selected)
	}
	if strings.Contains(live, "Updated") {
		t.Errorf("the live region announces refreshes: %q", live)
	}

	// Bulk revoke: the 50 "retire" machines, one confirmation naming the
	// count.
	var title, flash string
	run("bulk revoke",
		chromedp.Navigate(base+"/machines?q=retire"),
		chromedp.WaitVisible("#pick-all"),
		chromedp.Click("#pick-all"),
		chromedp.WaitVisible(`//span[@id="selected" and text()="50 machines selected"]`, chromedp.BySearch),
		chromedp.SetValue("#bulk-action", "revoke"),
		chromedp.Click("#bulk-go"),
		chromedp.WaitVisible("#bulk-confirm"),
		chromedp.Text("#bulk-title", &title),
		chromedp.Click("#bulk-confirm"),
		chromedp.WaitVisible(".flash"),
		chromedp.Text(".flash", &flash),
	)
	if title != "Revoke 50 machines?" || !strings.Contains(flash, "50 machine(s) revoked") {
		t.Fatalf("bulk revoke: confirmation %q, outcome %q", title, flash)
	}
	var refused int
	for _, s := range fleet {
		if !strings.HasPrefix(s.Name, "retire-") {
			continue
		}
		_, err := s.agent.ReportHealth(context.Background(), wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux"})
		if wire.ErrorCode(err) == wire.CodeMachineRevoked {
			refused++
		}
	}
	if refused != 50 {
		t.Errorf("%d of 50 revoked credentials fail with machine_revoked", refused)
	}

	var overflow int
	run("dark and phone",
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}),
		chromedp.Navigate(base+"/machines"),
		chromedp.WaitVisible("#machines tbody tr"),
		shot("fleet-dark"),
		emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}),
		emulation.SetDeviceMetricsOverride(390, 844, 3, true),
		chromedp.Reload(),
		chromedp.WaitVisible("#machines tbody tr"),
		shot("fleet-phone"),
		chromedp.Evaluate(`document.documentElement.scrollWidth - window.innerWidth`, &overflow),
	)
	if overflow > 0 {
		t.Errorf("at 390 px the page is %d px wider than the screen (only the table may scroll sideways)", overflow)
	}
	// The machine page with the longest values a machine and an admin can
	// set: a 63-character name without hyphens, 32 tags of 63 characters
	// and a tunnel error of one unbroken word. Each wraps or is clipped;
	// before, the name alone made the page 422 px wide and the error
	// 3,053 px.
	longName := strings.Repeat("w", wire.MaxNameLen)
	var tags []string
	for i := range wire.MaxTags {
		tags = append(tags, fmt.Sprintf("%02d%s", i, strings.Repeat("t", wire.MaxTagLen-2)))
	}
	if _, err := admin.UpdateMachine(context.Background(), target.MachineID, wire.UpdateMachineRequest{Name: &longName, Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := target.agent.ReportHealth(context.Background(), wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux",
		Tunnel: wire.TunnelHealth{Error: strings.Repeat("W", wire.MaxTunnelErrorLen)}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the health writer's batch
	// Every other page fits a phone too (tables scroll inside their box).
	for _, p := range []string{"/machines/" + target.MachineID, "/tokens", "/policy", "/dns", "/flags", "/updates", "/audit", "/admins"} {
		run("phone: "+p,
			chromedp.Navigate(base+p),
			chromedp.WaitVisible("main"),
			chromedp.Evaluate(`document.documentElement.scrollWidth - window.innerWidth`, &overflow),
		)
		if overflow > 0 {
			t.Errorf("at 390 px %s is %d px wider than the screen", p, overflow)
		}
	}
}

// TestMachinePageIsLive: a machine's page follows its reports without a
// reload: health, the path to each tunnel peer (a peer that moves from
// direct to the relay, a new peer), and its state once revoked.
func TestMachinePageIsLive(t *testing.T) {
	exe := chromium(t)
	base, password, admin := server(t)
	ctx0 := context.Background()
	tok, _ := admin.CreateToken(ctx0, wire.CreateTokenRequest{})
	anon, _ := client.New(base)
	en, err := anon.Enroll(ctx0, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: "live-1", OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := client.New(base, client.WithToken(en.Credential))
	report := func(cpu float64, peers ...wire.PeerHealth) {
		t.Helper()
		if _, err := agent.ReportHealth(ctx0, wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", CPUPercent: cpu,
			MemTotal: 8 << 30, MemUsed: 2 << 30, DiskTotal: 100 << 30, DiskUsed: 10 << 30,
			Tunnel: wire.TunnelHealth{Up: true, Interface: "wf0", PeerCount: len(peers), Peers: peers}}); err != nil {
			t.Fatal(err)
		}
	}
	no := false
	if _, err := agent.ReportHealth(ctx0, wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", Facts: &wire.Facts{
		OS: wire.OSFacts{Name: "debian", Version: "12", Arch: "amd64"}, Disks: []wire.DiskFacts{{Mount: "/", SizeBytes: 40 << 30, FreeBytes: 10 << 30, Encrypted: &no}},
		Cloud: wire.CloudFacts{Provider: "gcp", Region: "europe-west1", Zone: "europe-west1-b", InstanceType: "e2-medium"}}}); err != nil {
		t.Fatal(err)
	}
	report(11, wire.PeerHealth{ID: "m_db", Name: "db-1", Path: "direct", Endpoint: "203.0.113.7:41641", LatencyMS: 3.2})
	if _, err := admin.SetPolicy(ctx0, wire.PutPolicyRequest{Text: `{"postures": {"encrypted": ["disk.encrypted"], "debian": ["os.name == debian", "os.version >= 12"]},
  "rules": [{"src": ["*"], "dst": ["*"], "srcPosture": ["encrypted"]}]}`}); err != nil {
		t.Fatal(err)
	}
	ctx := chromiumContext(t, exe, 60*time.Second)
	run := runner(t, ctx)
	var peers0, peers1, health, state string
	run("open the machine's page",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#password"),
		chromedp.SendKeys("#password", password),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#q"),
		chromedp.Navigate(base+"/machines/"+en.MachineID),
		chromedp.WaitVisible("#tunnel-peers"),
		chromedp.Text("#tunnel-peers tbody", &peers0),
		chromedp.Evaluate(`window.notReloaded = true`, nil),
	)
	if !strings.Contains(peers0, "direct") {
		t.Fatalf("peers at first: %q", peers0)
	}
	var inventory, clouds, postures string
	run("its inventory", chromedp.Text("#inventory", &inventory), chromedp.Text("#postures", &postures))
	for _, want := range []string{"debian: has it", "encrypted: fails it: disk.encrypted is false; the posture wants disk.encrypted"} {
		if !strings.Contains(postures, want) {
			t.Errorf("postures lack %q:\n%s", want, postures)
		}
	}
	for _, want := range []string{"debian 12", "Disk /\n40.0 GiB, 10.0 GiB free, not encrypted", "gcp, europe-west1, europe-west1-b, e2-medium"} {
		if !strings.Contains(inventory, want) {
			t.Errorf("inventory lacks %q:\n%s", want, inventory)
		}
	}
	run("the Clouds page", chromedp.Navigate(base+"/clouds"), chromedp.WaitVisible(`section.cloud[data-provider="gcp"]`),
		chromedp.Text(`section.cloud[data-provider="gcp"]`, &clouds),
		chromedp.Navigate(base+"/machines/"+en.MachineID), chromedp.WaitVisible("#tunnel-peers"),
		chromedp.Evaluate(`window.notReloaded = true`, nil))
	for _, want := range []string{"gcp · europe-west1", "1 machines (1 online)", "live-1\t" + en.IPv4 + "\teurope-west1-b\te2-medium\tdebian 12\tonline"} {
		if !strings.Contains(clouds, want) {
			t.Errorf("the Clouds page lacks %q:\n%s", want, clouds)
		}
	}
	report(42, wire.PeerHealth{ID: "m_db", Name: "db-1", Path: "relay"}, wire.PeerHealth{ID: "m_web", Name: "web-2", Path: "direct", Endpoint: "198.51.100.4:41641", LatencyMS: 9})
	run("the new report arrives",
		chromedp.Poll(`document.querySelector("#health-summary").textContent.startsWith("CPU 42%") && document.querySelectorAll("#tunnel-peers tbody tr").length === 2`, nil,
			chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text("#tunnel-peers tbody", &peers1),
		chromedp.Text("#health-summary", &health),
	)
	if !strings.Contains(peers1, "db-1\trelay") || !strings.Contains(peers1, "web-2\tdirect\t198.51.100.4:41641\t9.0 ms") {
		t.Errorf("peers after the report:\n%s", peers1)
	}
	if _, err := admin.RevokeMachine(ctx0, en.MachineID); err != nil {
		t.Fatal(err)
	}
	var notReloaded bool
	run("revoked",
		chromedp.Poll(`document.querySelector("#machine-state").textContent === "revoked"`, nil, chromedp.WithPollingTimeout(15*time.Second)),
		chromedp.Text("#machine-state", &state),
		chromedp.Evaluate(`window.notReloaded === true`, &notReloaded),
	)
	if !notReloaded {
		t.Error("the page reloaded instead of updating in place")
	}
}

package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestFlowsPage: the Flows page in Chromium shows what agents reported:
// top talkers by name, the refused attempts with why, the records; a
// search by machine and verdict narrows them.
func TestFlowsPage(t *testing.T) {
	exe := chromium(t)
	base, password, admin := server(t)
	ctx0 := context.Background()
	tok, _ := admin.CreateToken(ctx0, wire.CreateTokenRequest{Reusable: true})
	anon, _ := client.New(base)
	var ens []wire.EnrollResponse
	for _, host := range []string{"web-1", "db-1", "laptop-1"} {
		en, err := anon.Enroll(ctx0, wire.EnrollRequest{Token: tok.Secret, PublicKey: pubkey(), Hostname: host, OS: "linux", Arch: "amd64", AgentVersion: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		ens = append(ens, en)
	}
	db, _ := client.New(base, client.WithToken(ens[1].Credential))
	now := time.Now().Add(-time.Minute)
	recs := []wire.FlowRecord{
		{Start: now, End: now.Add(time.Second), Proto: "tcp", Src: ens[0].IPv4, Dst: ens[1].IPv4, SrcPort: 41000, DstPort: 5432,
			TxPackets: 40, TxBytes: 4000, RxPackets: 900, RxBytes: 3 << 20, Path: wire.PathDirect, Verdict: wire.FlowAllowed, Rule: "from tag:web: ports 5432"},
		{Start: now, End: now.Add(2 * time.Second), Proto: "tcp", Src: ens[2].IPv4, Dst: ens[1].IPv4, DstPort: 22, TxPackets: 6, TxBytes: 360, Verdict: wire.FlowDenied, Rule: "no rule allows it"},
	}
	if err := db.ReportFlows(ctx0, wire.FlowReport{Records: recs}); err != nil {
		t.Fatal(err)
	}
	ctx := chromiumContext(t, exe, 60*time.Second)
	run := runner(t, ctx)
	var talkers, denied, records, filtered string
	run("open the Flows page",
		chromedp.Navigate(base+"/login"), chromedp.WaitVisible("#password"), chromedp.SendKeys("#password", password), chromedp.Click("#signin"),
		chromedp.WaitVisible("#q"),
		chromedp.Click(`a[href="/flows"]`), chromedp.WaitVisible("#talkers"),
		chromedp.Text("#talkers tbody", &talkers), chromedp.Text("#denied tbody", &denied), chromedp.Text("#flows tbody", &records))
	for _, c := range []struct{ what, text, want string }{
		{"top talkers", talkers, "web-1\tdb-1\t3.0 MiB\t940\t1"},
		{"refused attempts", denied, "laptop-1\tdb-1\ttcp\t22\t6\tno rule allows it\tdb-1"},
		{"records", records, "web-1:41000\tdb-1:5432\t3.9 KiB\t3.0 MiB\tdirect\tallowed"},
	} {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s lack %q:\n%s", c.what, c.want, c.text)
		}
	}
	run("search: laptop-1's refused attempts",
		chromedp.SetValue("#machine", "laptop-1"), chromedp.SetValue("#verdict", "denied"), chromedp.Submit("#machine"),
		chromedp.WaitVisible("#flows"), chromedp.Text("#flows tbody", &filtered))
	if !strings.Contains(filtered, "laptop-1\tdb-1:22") || strings.Contains(filtered, "5432") {
		t.Errorf("filtered records:\n%s", filtered)
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// TestFlowsCLI: `flows` lists what agents reported, filtered; --jsonl
// streams every matching record as a JSON line across pages; a bad
// filter is refused.
func TestFlowsCLI(t *testing.T) {
	data := t.TempDir()
	exported := filepath.Join(t.TempDir(), "flows.jsonl")
	p := start(t, nil, "--data-dir", data, "--listen", freePort(t), "--insecure-http", "--flow-jsonl", exported)
	anon, _ := client.New(p.url)
	var ens []wire.EnrollResponse
	for _, name := range []string{"web-1", "db-1"} {
		var tr wire.CreateTokenResponse
		json.Unmarshal([]byte(mustCLI(t, "tokens", "create", "--data-dir", data, "--json")), &tr)
		en, err := anon.Enroll(context.Background(), wire.EnrollRequest{Token: tr.Secret, PublicKey: pubkey(), Hostname: name, OS: "linux", Arch: "amd64", AgentVersion: "1"})
		if err != nil {
			t.Fatal(err)
		}
		ens = append(ens, en)
	}
	web, _ := client.New(p.url, client.WithToken(ens[0].Credential))
	t0 := time.Now().Add(-time.Minute)
	var recs []wire.FlowRecord
	for i := range 1500 {
		recs = append(recs, wire.FlowRecord{Start: t0, End: t0.Add(time.Second), Proto: "tcp", Src: ens[0].IPv4, Dst: ens[1].IPv4,
			SrcPort: uint16(30000 + i), DstPort: 5432, TxPackets: 4, TxBytes: 400, RxPackets: 3, RxBytes: 900, Path: wire.PathDirect, Verdict: wire.FlowAllowed})
	}
	recs = append(recs, wire.FlowRecord{Start: t0, End: t0, Proto: "tcp", Src: ens[1].IPv4, Dst: ens[0].IPv4, DstPort: 22, TxPackets: 2, TxBytes: 120, Verdict: wire.FlowDenied, Rule: "no rule allows it"})
	if err := web.ReportFlows(context.Background(), wire.FlowReport{Records: recs}); err != nil {
		t.Fatal(err)
	}
	out := mustCLI(t, "flows", "--data-dir", data, "--verdict", "denied", "--since", "1h")
	if !strings.Contains(out, "denied") || !strings.Contains(out, ens[0].IPv4+":22") || !strings.Contains(out, "no rule allows it") || strings.Contains(out, "5432") {
		t.Fatalf("flows --verdict denied:\n%s", out)
	}
	out = mustCLI(t, "flows", "--data-dir", data, "--machine", "db-1", "--jsonl")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1501 {
		t.Fatalf("--jsonl printed %d lines, want 1501", len(lines))
	}
	var r wire.FlowRecord
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil || r.SrcPort != 30000 || r.DstMachine != ens[1].MachineID {
		t.Fatalf("last line %q: %+v %v", lines[len(lines)-1], r, err)
	}
	// --flow-jsonl wrote every stored record as it came, with its reporter.
	b, err := os.ReadFile(exported)
	if n := strings.Count(string(b), "\n"); err != nil || n != 1501 || !strings.Contains(string(b), `"reporter":"`+ens[0].MachineID+`"`) {
		t.Fatalf("--flow-jsonl file: %d lines, %v", n, err)
	}
	if _, err := cli(t, "flows", "--data-dir", data, "--verdict", "maybe"); err == nil {
		t.Fatal("--verdict maybe accepted")
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// flowsPolicy lets a reach b's port 80 and ping c (so that a and c are
// peers and c's filter sees, and refuses, a's connection to its port 80);
// every machine logs its flows every 10 s.
const flowsPolicy = `{
  "tags": ["tag:a", "tag:b", "tag:c"],
  "flowLogs": {"src": ["*"], "interval": "10s"},
  "rules": [
    {"src": ["tag:a"], "dst": ["tag:b"], "proto": "tcp", "ports": ["80"]},
    {"src": ["tag:a"], "dst": ["tag:c"], "proto": "icmp"},
  ],
}
`

// TestFlowLogsInNamespaces: three agents under a policy with flow logs on.
// a downloads 300,000 bytes from b's port 80 and is refused at c's port
// 80; b's agent restarts before its interval ends; within two intervals
// the server holds the allowed flow, reported by
// b with the bytes a received (the transfer and its TCP/IP headers) and
// the rule that let it in, the path (right after enrollment, direct or
// still through the server's relay), and the refused attempt, reported by
// c with why; ping shows as ICMP flows.
func TestFlowLogsInNamespaces(t *testing.T) {
	f := newFleet(t, 4)
	dir := t.TempDir()
	pol := filepath.Join(dir, "flows.hujson")
	os.WriteFile(pol, []byte(flowsPolicy), 0o644)
	run(t, f.server, "policy", "set", pol, "--data-dir", f.data)
	a, b, c := f.enroll(f.hosts[1], 1, "a"), f.enroll(f.hosts[2], 2, "b"), f.enroll(f.hosts[3], 3, "c")
	const size = 300_000
	payload := filepath.Join(dir, "payload")
	os.WriteFile(payload, []byte(strings.Repeat("x", size)), 0o644)
	// b serves the payload once per connection, as a web server would.
	startProc(t, b.h.cmd("sh", "-c", fmt.Sprintf("while true; do nc -l -p 80 -q 1 < %s || nc -l 80 < %s; done", payload, payload)))
	eventually(t, 20*time.Second, "a pings c (they are peers)", func() bool { return a.h.ping(c.ipv4()) })

	t0 := time.Now()
	var got []byte
	eventually(t, 20*time.Second, "a downloads the payload from b:80", func() bool {
		out, err := a.h.cmd("sh", "-c", fmt.Sprintf("nc -w 3 %s 80 < /dev/null | wc -c", b.ipv4())).Output()
		got = out
		return err == nil && strings.TrimSpace(string(out)) == fmt.Sprint(size)
	})
	if err := a.h.cmd("nc", "-z", "-w", "2", c.ipv4(), "80").Run(); err == nil {
		t.Fatal("a reached c:80, which no rule allows")
	}
	// b restarts in the middle of its interval: what its filter counted of
	// the download is saved at the stop and sent after the start.
	b.proc.cmd.Process.Signal(syscall.SIGTERM)
	b.proc.cmd.Wait()
	b.start(t)

	var allowed, denied *wire.FlowRecord
	took := eventually(t, 30*time.Second, "the server holds both flows", func() bool {
		var page wire.FlowsResponse
		json.Unmarshal([]byte(run(t, f.server, "flows", "--data-dir", f.data, "--since", "5m", "--limit", "1000", "--json")), &page)
		allowed, denied = nil, nil
		for i, r := range page.Records {
			switch {
			case r.Verdict == wire.FlowAllowed && r.Reporter == b.cfg["machine_id"] && r.DstPort == 80 && r.Src == a.ipv4() && r.RxBytes >= size:
				allowed = &page.Records[i]
			case r.Verdict == wire.FlowDenied && r.Reporter == c.cfg["machine_id"] && r.DstPort == 80 && r.Src == a.ipv4():
				denied = &page.Records[i]
			}
		}
		return allowed != nil && denied != nil
	})
	t.Logf("both flows at the server %v after the transfer (interval 10 s); nc read %s bytes", took.Round(time.Millisecond), strings.TrimSpace(string(got)))
	if allowed.RxBytes > size+size/10 || allowed.TxPackets == 0 || allowed.Rule != "from tag:a: tcp ports 80" ||
		allowed.SrcMachine != a.cfg["machine_id"] || allowed.DstMachine != b.cfg["machine_id"] || allowed.Path != wire.PathDirect && allowed.Path != wire.PathRelayed {
		t.Errorf("the allowed flow: %+v (the payload is %d bytes)", *allowed, size)
	}
	if denied.Rule != "no rule allows it" || denied.TxPackets == 0 || denied.Start.Before(t0.Add(-time.Second)) {
		t.Errorf("the refused attempt: %+v", *denied)
	}
	var icmp wire.FlowsResponse
	json.Unmarshal([]byte(run(t, f.server, "flows", "--data-dir", f.data, "--machine", c.name(), "--json")), &icmp)
	pings := 0
	for _, r := range icmp.Records {
		if r.Proto == "icmp" && r.Verdict == wire.FlowAllowed {
			pings++
		}
	}
	if pings == 0 {
		t.Errorf("no ICMP flow between a and c in %d records", len(icmp.Records))
	}
}

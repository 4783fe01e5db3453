package flowexport

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// receiver is a small OTLP/HTTP logs receiver, written against the
// protocol's protobuf definitions, as a collector's would be.
type receiver struct {
	mu      sync.Mutex
	records []map[string]any // attributes by key, and "body"
	headers http.Header
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP logs export", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	var req collogs.ExportLogsServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.headers = r.Header.Clone()
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			for _, lr := range sl.LogRecords {
				m := map[string]any{"body": lr.Body.GetStringValue(), "event": lr.EventName, "time": time.Unix(0, int64(lr.TimeUnixNano)).UTC()}
				for _, kv := range lr.Attributes {
					if _, text := kv.Value.Value.(*common.AnyValue_StringValue); text {
						m[kv.Key] = kv.Value.GetStringValue()
					} else {
						m[kv.Key] = kv.Value.GetIntValue()
					}
				}
				rc.records = append(rc.records, m)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collogs.ExportLogsServiceResponse{})
	w.Write(out)
}

func (rc *receiver) got() []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]map[string]any(nil), rc.records...)
}

// Records reach an OTLP/HTTP collector as log records with the network
// conventions' attributes and ours, and a JSON lines file, one per line.
func TestExport(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	lines := filepath.Join(t.TempDir(), "flows.jsonl")
	ctx := context.Background()
	e, err := New(ctx, Options{OTLPURL: srv.URL, OTLPHeaders: map[string]string{"X-Api-Key": "k1"}, JSONL: lines, Every: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	recs := []wire.FlowRecord{
		{Start: t0, End: t0.Add(time.Second), Proto: "tcp", Src: "100.64.0.1", Dst: "100.64.0.2", SrcPort: 40000, DstPort: 443, SrcMachine: "m_a", DstMachine: "m_b",
			TxPackets: 5, TxBytes: 500, RxPackets: 9, RxBytes: 9000, Path: wire.PathDirect, Verdict: wire.FlowAllowed, Reporter: "m_b", Rule: "from tag:a: tcp ports 443"},
		{Start: t0, End: t0, Proto: "udp", Src: "100.64.0.3", Dst: "100.64.0.2", DstPort: 53, TxPackets: 1, TxBytes: 70, Verdict: wire.FlowDenied, Reporter: "m_b", Rule: "no rule allows it"},
	}
	if err := e.Export(ctx, recs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := rc.got()
	if len(got) != 2 {
		t.Fatalf("the collector got %d records", len(got))
	}
	a := got[0]
	for k, want := range map[string]any{"body": "tcp 100.64.0.1:40000 → 100.64.0.2:443 allowed", "event": "wirefleet.flow", "network.transport": "tcp",
		"source.address": "100.64.0.1", "destination.port": int64(443), "wirefleet.flow.rx_bytes": int64(9000), "wirefleet.flow.verdict": "allowed",
		"wirefleet.flow.dst_machine": "m_b", "wirefleet.flow.rule": "from tag:a: tcp ports 443", "time": t0.Add(time.Second)} {
		if a[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, a[k], a[k], want)
		}
	}
	if got[1]["wirefleet.flow.verdict"] != "denied" {
		t.Errorf("second record %v", got[1])
	}
	if rc.headers.Get("X-Api-Key") != "k1" {
		t.Errorf("the collector's header was not sent: %v", rc.headers)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(lines)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("JSON lines file mode %v", fi.Mode().Perm())
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var r wire.FlowRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Reporter != "m_b" {
			t.Fatalf("line %d: %q %v", n+1, sc.Text(), err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d JSON lines", n)
	}
	for _, bad := range []string{"collector:4318", "ftp://x/", "http://"} {
		if _, err := New(ctx, Options{OTLPURL: bad}); err == nil {
			t.Errorf("OTLP URL %q accepted", bad)
		}
	}
	if e, err := New(ctx, Options{}); e != nil || err != nil {
		t.Errorf("no export asked: %v %v", e, err)
	}
}

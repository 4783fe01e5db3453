package daemon

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const monitoringDir = "../../../docs/monitoring"

// exprs returns every PromQL expression in the alert rules and the
// Grafana dashboard.
func exprs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err = os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	for _, p := range dash.Panels {
		for i, tg := range p.Targets {
			out["panel "+p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d expressions found", len(out))
	}
	return out
}

// Every metric the alert rules and the dashboard name exists in a running
// server's /metrics: a renamed metric cannot silently leave an alert that
// never fires.
func TestMonitoringNamesRealMetrics(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	metricsAddr := ln.Addr().String()
	ln.Close()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), MetricsListen: metricsAddr, STUNListen: "127.0.0.1:0",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(u, _ string) { ready <- u }}, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start")
	}
	// One failed enrollment and a few requests, so that labelled series exist.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := hc.Post(base+"/api/v1/enroll", "application/json", strings.NewReader(`{"token":"wfe_nope"}`)); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	have := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			have[strings.Fields(name)[0]] = true
		}
	}
	ours := regexp.MustCompile(`\b(?:wirefleet|go|process)_[a-z0-9_]+`)
	var missing []string
	for where, e := range exprs(t) {
		for _, n := range ours.FindAllString(e, -1) {
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && have[b] {
					base = b
				}
			}
			if !have[base] {
				missing = append(missing, where+": "+n)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("metrics named in docs/monitoring that /metrics does not have:\n%s", strings.Join(missing, "\n"))
	}
}

// The alert rules pass Prometheus's own checker.
func TestAlertRulesPassPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("needs promtool (Debian's prometheus package; .ci/run installs it)")
	}
	out, err := exec.Command("promtool", "check", "rules", filepath.Join(monitoringDir, "alerts.yml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

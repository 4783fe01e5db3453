package api

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// The metrics the alert rules watch move with what they describe: a held
// poll answered by a change is timed (wirefleet_netmap_delivery_seconds),
// an agent's rolled-back update is counted. (Which machines are offline:
// TestQuietMachines in the store.)
func TestAlertMetricsMove(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	a, ra := e.agent(t, tok, "watcher")
	_, rb := e.agent(t, tok, "leaver")
	nm, err := a.Netmap(ctx, 0, client.NoWait)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := a.Netmap(ctx, nm.Version, 30*time.Second) // held: up to date
		got <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := e.admin.RevokeMachine(ctx, rb.MachineID); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.reg, "wirefleet_netmap_delivery_seconds"); n != 1 {
		t.Fatalf("delivery histogram: %d series", n)
	}
	mfs, _ := e.reg.Gather()
	var observed uint64
	for _, mf := range mfs {
		if mf.GetName() == "wirefleet_netmap_delivery_seconds" {
			observed = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if observed != 1 {
		t.Fatalf("a held poll answered by the revocation: %d observations, want 1", observed)
	}

	rep := wire.HealthReport{At: time.Now(), AgentVersion: "1", OS: "linux",
		Update: &wire.UpdateStatus{From: "1.0.0", To: "2.0.0", State: "rolled_back", Reason: "crashed", At: time.Now()}}
	if _, err := a.ReportHealth(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if v := gathered(t, e, "wirefleet_agent_updates_total", "rolled_back"); v != 1 {
		t.Fatalf("rolled_back updates = %v", v)
	}
	if v := gathered(t, e, "wirefleet_machines_offline", ""); v != 0 {
		t.Fatalf("offline machines = %v, want 0 (%s polled just now)", v, ra.Name)
	}
}

// gathered reads one series' value from the env's registry (label: the
// value of its only label, "" for none).
func gathered(t *testing.T, e *env, name, label string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{%s}", name, label)
	return 0
}

package store

import (
	"context"
	"testing"
)

// Each policy set is a new version that moves the network map (so hubs
// and replicas apply it in order) and is audited with its diff; setting
// the same text again changes nothing; "" clears it.
func TestPolicyVersions(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if p, err := db.Policy(ctx); err != nil || p.Version != 0 || p.Text != "" {
		t.Fatalf("no policy yet = %+v, %v", p, err)
	}
	v0, _ := db.LoadMapState(ctx, 10)
	p1, ch, ok, err := db.SetPolicy(ctx, admin, `{"rules": []}`, "+ deny all")
	if err != nil || !ok || p1.Version != 1 || ch.Version != v0.Version+1 || ch.MachineID != "policy:1" || p1.MapVersion != ch.Version {
		t.Fatalf("first policy = %+v %+v %v %v", p1, ch, ok, err)
	}
	if v, ok := PolicyVersionOf(ch); !ok || v != 1 {
		t.Fatalf("PolicyVersionOf(%+v) = %d %v", ch, v, ok)
	}
	if _, _, ok, err := db.SetPolicy(ctx, admin, `{"rules": []}`, ""); ok || err != nil {
		t.Fatalf("the same text again moved the map: %v %v", ok, err)
	}
	p2, _, _, err := db.SetPolicy(ctx, admin, "", "- deny all")
	if err != nil || p2.Version != 2 {
		t.Fatalf("clear = %+v %v", p2, err)
	}
	if cur, _ := db.Policy(ctx); cur.Version != 2 || cur.Text != "" || cur.Author != admin.Name {
		t.Fatalf("current = %+v", cur)
	}
	if old, err := db.PolicyVersion(ctx, 1); err != nil || old.Text != `{"rules": []}` {
		t.Fatalf("version 1 = %+v %v", old, err)
	}
	if _, err := db.PolicyVersion(ctx, 9); err != ErrNotFound {
		t.Fatalf("version 9: %v", err)
	}
	st, _ := db.LoadMapState(ctx, 10)
	if st.Policy.Version != 2 || len(st.Log) < 2 || st.Log[len(st.Log)-1].MachineID != "policy:2" {
		t.Fatalf("map state = policy %+v, log %+v", st.Policy, st.Log)
	}
	page, err := db.ListAudit(ctx, AuditFilter{Target: "policy"})
	if err != nil || len(page.Events) != 2 || page.Events[0].Action != "policy.clear" || page.Events[1].Details["diff"] != "+ deny all" {
		t.Fatalf("audit = %+v %v", page.Events, err)
	}
}

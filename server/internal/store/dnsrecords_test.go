package store

import (
	"context"
	"errors"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Records are added and removed with a network-map change each (so every
// hub sends them), duplicates and CNAME clashes are refused, and the map
// state carries them.
func TestDNSRecords(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if rs, err := db.DNSRecords(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("none yet: %v %v", rs, err)
	}
	v0, _ := db.LoadMapState(ctx, 10)
	ch, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"})
	if err != nil || ch.Version != v0.Version+1 || !IsDNSChange(ch) {
		t.Fatalf("add = %+v %v", ch, err)
	}
	if _, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.6"}); err != nil {
		t.Fatalf("a second address: %v", err)
	}
	code := func(err error) wire.Code {
		var we *wire.Error
		if errors.As(err, &we) {
			return we.Code
		}
		return ""
	}
	if _, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"}); code(err) != wire.CodeConflict {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "db", Type: "CNAME", Value: "x.example"}); code(err) != wire.CodeConflict {
		t.Errorf("CNAME next to an A: %v", err)
	}
	if _, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "www", Type: "CNAME", Value: "x.example"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddDNSRecord(ctx, admin, wire.DNSRecord{Name: "www", Type: "A", Value: "10.0.0.7"}); code(err) != wire.CodeConflict {
		t.Errorf("A next to a CNAME: %v", err)
	}
	st, err := db.LoadMapState(ctx, 10)
	if err != nil || len(st.DNS) != 3 || st.DNS[0].Name != "db" || st.DNS[2].Type != "CNAME" {
		t.Fatalf("map state records: %+v %v", st.DNS, err)
	}
	removed, ch, err := db.RemoveDNSRecords(ctx, admin, "db", "", "")
	if err != nil || len(removed) != 2 || !IsDNSChange(ch) {
		t.Fatalf("remove = %v %+v %v", removed, ch, err)
	}
	if _, _, err := db.RemoveDNSRecords(ctx, admin, "db", "", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove again: %v", err)
	}
	if _, _, err := db.RemoveDNSRecords(ctx, admin, "www", "A", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove a type it does not have: %v", err)
	}
	if rs, _ := db.DNSRecords(ctx); len(rs) != 1 || rs[0].CreatedBy != admin.Name || rs[0].CreatedAt == nil {
		t.Fatalf("left: %+v", rs)
	}
	events, _ := db.ListAudit(ctx, AuditFilter{Action: "dns."})
	if len(events.Events) != 4 {
		t.Errorf("%d dns.* audit events, want 4 (3 adds, 1 removal)", len(events.Events))
	}
}

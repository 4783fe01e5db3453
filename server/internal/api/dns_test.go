package api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Admin DNS records over the API: added canonical, listed, refused with a
// stable code when malformed or clashing, removed; agents cannot touch them.
func TestDNSRecordsAPI(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := context.Background()
	r, err := e.admin.AddDNSRecord(ctx, wire.DNSRecord{Name: "DB.", Type: "a", Value: " 10.0.0.5 "})
	if err != nil || r != (wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"}) {
		t.Fatalf("add = %+v %v", r, err)
	}
	code := func(err error) wire.Code {
		var we *wire.Error
		if errors.As(err, &we) {
			return we.Code
		}
		return ""
	}
	for _, bad := range []struct {
		r    wire.DNSRecord
		code wire.Code
	}{
		{wire.DNSRecord{Name: "db", Type: "A", Value: "10.0.0.5"}, wire.CodeConflict},
		{wire.DNSRecord{Name: "db", Type: "CNAME", Value: "x.example"}, wire.CodeConflict},
		{wire.DNSRecord{Name: "x", Type: "A", Value: "fd00::1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "x", Type: "AAAA", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "x", Type: "MX", Value: "10 mail.example"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "<script>", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "a\u202eb", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: strings.Repeat("a", 64), Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "x", Type: "CNAME", Value: "bad target!"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "x", Type: "A", Value: "10.0.0.1", CreatedBy: "forged"}, wire.CodeInvalidArgument},
		// Names in another domain are refused, not nested below ours.
		{wire.DNSRecord{Name: "db.example.com", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "db.other.internal", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "db.prod.", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
		{wire.DNSRecord{Name: "fleet.internal", Type: "A", Value: "10.0.0.1"}, wire.CodeInvalidArgument},
	} {
		if _, err := e.admin.AddDNSRecord(ctx, bad.r); code(err) != bad.code {
			t.Errorf("%+v: %v, want %s", bad.r, err, bad.code)
		}
	}
	// A full name in the fleet domain is that name, not one below it.
	for full, want := range map[string]string{"x.fleet.internal": "x", "API.Prod.Fleet.Internal.": "api.prod"} {
		r, err := e.admin.AddDNSRecord(ctx, wire.DNSRecord{Name: full, Type: "A", Value: "10.0.0.9"})
		if err != nil || r.Name != want {
			t.Fatalf("add %s = %+v %v, want the name %s", full, r, err, want)
		}
		if rm, err := e.admin.RemoveDNSRecords(ctx, full, ""); err != nil || len(rm) != 1 || rm[0].Name != want {
			t.Fatalf("remove %s = %+v %v", full, rm, err)
		}
	}
	list, err := e.admin.DNSRecords(ctx)
	if err != nil || len(list.Records) != 1 || list.Records[0].CreatedBy != "admin:root" {
		t.Fatalf("list = %+v %v", list, err)
	}
	agent, _ := e.agent(t, e.token(t, wire.CreateTokenRequest{}), "h")
	if _, err := agent.AddDNSRecord(ctx, wire.DNSRecord{Name: "evil", Type: "A", Value: "10.6.6.6"}); code(err) != wire.CodeUnauthenticated {
		t.Errorf("an agent added a record: %v", err)
	}
	if _, err := e.admin.RemoveDNSRecords(ctx, "db", "TXT"); code(err) != wire.CodeInvalidArgument {
		t.Errorf("remove type TXT: %v", err)
	}
	if rm, err := e.admin.RemoveDNSRecords(ctx, "db", ""); err != nil || len(rm) != 1 {
		t.Fatalf("remove = %v %v", rm, err)
	}
	if _, err := e.admin.RemoveDNSRecords(ctx, "db", ""); code(err) != wire.CodeNotFound {
		t.Errorf("remove again: %v", err)
	}
	// One record of several with the same name and type (Terraform's
	// wirefleet_dns_record removes exactly its own).
	for _, v := range []string{"100.64.1.1", "100.64.1.2"} {
		if _, err := e.admin.AddDNSRecord(ctx, wire.DNSRecord{Name: "pool", Type: "A", Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.admin.RemoveDNSRecord(ctx, "pool", "A", "100.64.1.1"); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.RemoveDNSRecord(ctx, "pool", "A", "100.64.1.1"); code(err) != wire.CodeNotFound {
		t.Errorf("remove the same record again: %v", err)
	}
	if list, _ := e.admin.DNSRecords(ctx); len(list.Records) != 1 || list.Records[0].Value != "100.64.1.2" {
		t.Errorf("after removing one of two: %+v", list.Records)
	}
}

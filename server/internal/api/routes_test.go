package api

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/fleet"
)

// The route lifecycle over HTTP: advertised (pending, in nobody's map),
// refused when it would take the fleet's own traffic, approved (in the
// client's Self, via the router), audited, and gone with the router.
func TestRoutesOverTheAPI(t *testing.T) {
	e := newEnvWith(t, Config{}, fleet.Config{ServerAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}})
	ctx := context.Background()
	tok := e.token(t, wire.CreateTokenRequest{Reusable: true})
	gw, gwEn := e.agent(t, tok, "gw-1")
	laptop, _ := e.agent(t, tok, "laptop-1")

	for _, tc := range []struct {
		adv  wire.RoutesAdvert
		want string
	}{
		{wire.RoutesAdvert{Routes: []string{"100.64.0.0/16"}}, "overlaps the fleet's own range"},
		{wire.RoutesAdvert{Routes: []string{"192.0.2.0/24"}}, "contains the server's address"},
		{wire.RoutesAdvert{Routes: []string{"10.20.0.1/16"}}, "the range is 10.20.0.0/16"},
	} {
		if _, err := gw.AdvertiseRoutes(ctx, tc.adv); code(err) != wire.CodeInvalidRoute || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want invalid_route saying %q", tc.adv.Routes, err, tc.want)
		}
	}
	got, err := gw.AdvertiseRoutes(ctx, wire.RoutesAdvert{Routes: []string{"10.20.0.0/16"}, ExitNode: true})
	if err != nil || strings.Join(got.Routes, " ") != "0.0.0.0/0 10.20.0.0/16 ::/0" {
		t.Fatalf("advertise: %+v %v", got, err)
	}
	rs, err := e.admin.Routes(ctx)
	if err != nil || len(rs.Routes) != 3 {
		t.Fatalf("routes: %+v %v", rs, err)
	}
	for _, r := range rs.Routes {
		if r.State != wire.RoutePending || r.Primary || r.MachineName != "gw-1" {
			t.Errorf("before approval: %+v", r)
		}
	}
	nm, _ := laptop.Netmap(ctx, 0, 0)
	if len(nm.Self.Routes) != 0 {
		t.Fatalf("a pending route in the laptop's map: %+v", nm.Self.Routes)
	}

	if _, err := e.admin.DecideRoutes(ctx, "gw-1", wire.RouteDecision{Routes: []string{"10.30.0.0/16"}}, true); code(err) != wire.CodeInvalidRoute {
		t.Errorf("approving a route the machine does not advertise: %v", err)
	}
	if _, err := e.admin.DecideRoutes(ctx, "nonesuch", wire.RouteDecision{}, true); code(err) != wire.CodeNotFound {
		t.Errorf("an unknown machine: %v", err)
	}
	m, err := e.admin.DecideRoutes(ctx, "gw-1", wire.RouteDecision{Routes: []string{"10.20.0.0/16"}}, true)
	if err != nil || m.Routes == nil || strings.Join(m.Routes.Approved, ",") != "10.20.0.0/16" {
		t.Fatalf("approve: %+v %v", m.Routes, err)
	}
	nm, _ = laptop.Netmap(ctx, 0, 0)
	if len(nm.Self.Routes) != 1 || nm.Self.Routes[0].Prefix != "10.20.0.0/16" || nm.Self.Routes[0].Via[0] != gwEn.MachineID {
		t.Fatalf("the laptop's routes after approval: %+v", nm.Self.Routes)
	}
	gm, _ := gw.Netmap(ctx, 0, 0)
	if strings.Join(gm.Self.Serves, ",") != "10.20.0.0/16" || len(gm.Self.Routes) != 0 {
		t.Fatalf("the router's Self: serves %v, routes %+v", gm.Self.Serves, gm.Self.Routes)
	}
	rs, _ = e.admin.Routes(ctx)
	for _, r := range rs.Routes {
		if r.Prefix == "10.20.0.0/16" && (r.State != wire.RouteApproved || !r.Primary) {
			t.Errorf("after approval: %+v", r)
		}
	}
	audit, err := e.admin.Audit(ctx, client.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range audit.Events {
		seen[ev.Action] = true
	}
	if !seen["machine.routes.advertise"] || !seen["machine.routes.approve"] {
		t.Errorf("audit actions: %v", seen)
	}

	// The router leaves: the laptop's routes go with it.
	if _, err := e.admin.RevokeMachine(ctx, gwEn.MachineID); err != nil {
		t.Fatal(err)
	}
	nm, _ = laptop.Netmap(ctx, 0, 0)
	if len(nm.Self.Routes) != 0 {
		t.Fatalf("routes through a revoked router: %+v", nm.Self.Routes)
	}
}

package netmap

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/routing"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// randomPolicy writes a random, valid policy over tags t1…t4, a group,
// machine names and an address range.
func randomPolicy(rng *mrand.Rand, names []string) string {
	sel := func() string {
		switch rng.IntN(7) {
		case 0:
			return "*"
		case 5:
			return fmt.Sprintf("directory:D%d", 1+rng.IntN(2))
		case 1:
			return "group:g"
		case 2:
			if len(names) > 0 {
				return "machine:" + names[rng.IntN(len(names))]
			}
			return "*"
		case 3:
			return "100.64.0.0/30"
		case 4:
			if rng.IntN(2) == 0 {
				return "10.20.5.0/24" // inside an advertised route
			}
			return "10.30.0.0/24" // one of them
		}
		return fmt.Sprintf("tag:t%d", 1+rng.IntN(4))
	}
	for {
		var rules []string
		for range rng.IntN(4) {
			posture := ""
			switch rng.IntN(4) {
			case 0:
				posture = `, "srcPosture": ["p1"]`
			case 1:
				posture = `, "srcPosture": ["p1", "p2"]`
			}
			rules = append(rules, fmt.Sprintf(`{"src": [%q], "dst": [%q, %q], "ports": ["%d"]%s}`, sel(), sel(), sel(), 1+rng.IntN(3), posture))
		}
		// Posture definitions change too, now and then: the same rules,
		// other machines (and, as machines' postures change without a
		// change of their own, full maps).
		minOS, minAgent := 12, 4
		if rng.IntN(6) == 0 {
			minOS, minAgent = 11+rng.IntN(3), 3+rng.IntN(2)
		}
		postures := fmt.Sprintf(`"postures": {"p1": ["os.version >= %d"], "p2": ["agent.version >= 1.%d.0", "update.failed == false"]},`, minOS, minAgent)
		auto := ""
		if rng.IntN(2) == 0 {
			auto = fmt.Sprintf(`"autoApprovers": {"routes": {"10.20.0.0/16": [%q]}, "exitNode": [%q]},`, fmt.Sprintf("tag:t%d", 1+rng.IntN(4)), fmt.Sprintf("tag:t%d", 1+rng.IntN(4)))
		}
		text := `{
  // random
  "tags": ["tag:t1", "tag:t2", "tag:t3", "tag:t4"],
  "groups": {"group:g": ["tag:t1", "tag:t2"]},
  ` + auto + postures + `
  "rules": [` + strings.Join(rules, ",\n") + `],
}`
		if _, err := policy.Load([]byte(text)); err == nil {
			return text
		}
	}
}

// scratch computes machine id's peers and the filter it enforces from
// nothing but the database and the policy package: the reference the
// hub's deltas must reproduce.
func scratch(t *testing.T, db *store.DB, id string) ([]string, string) {
	peers, filter, _ := scratchRoutes(t, db, id)
	return peers, filter
}

// scratchRoutes is scratch with what the machine's Self says of routes:
// the routes it may use (via whom) and those it serves.
func scratchRoutes(t *testing.T, db *store.DB, id string) ([]string, string, string) {
	t.Helper()
	ctx := context.Background()
	ms, err := db.ListMachines(ctx, store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var pol *policy.Policy
	if sp.Text != "" {
		if pol, err = policy.Load([]byte(sp.Text)); err != nil {
			t.Fatal(err)
		}
	}
	var me wire.Machine
	for _, m := range ms {
		if m.ID == id {
			me = m
		}
	}
	var out []string
	var routers []routing.Router
	for _, m := range ms {
		if m.ID != id && (pol == nil || pol.Peers(AttrsUnder(me, pol), AttrsUnder(m, pol))) {
			var postures, groups []string
			if pol != nil {
				postures = pol.Held(AttrsUnder(m, pol))
				groups = pol.DirectoryGroups(AttrsUnder(m, pol))
			}
			out = append(out, m.ID+"/"+m.Name+"/"+strings.Join(m.Tags, ",")+"/"+strings.Join(postures, ",")+"/"+strings.Join(groups, ","))
		}
		if a := AttrsUnder(m, pol); len(a.Routes) > 0 || a.ExitNode {
			routers = append(routers, routing.Router{ID: m.ID, Subnets: a.Routes, Exit: a.ExitNode, Since: m.CreatedAt, Down: m.Routes.Failing != ""})
		}
	}
	sort.Strings(out)
	filter := "none"
	var access []string
	if pol != nil {
		b, _ := json.Marshal(wire.Filter{Policy: sp.Version, Rules: pol.Inbound(pol.ClassOf(AttrsUnder(me, pol)))})
		filter = string(b)
		access = pol.RouteAccess(pol.ClassOf(AttrsUnder(me, pol)))
	}
	mine := AttrsUnder(me, pol)
	rb, _ := json.Marshal(struct {
		Routes []wire.SelfRoute
		Serves []string
	}{routing.Build(routers, nil).For(id, access), routing.Serves(mine.Routes, mine.ExitNode)})
	return out, filter, string(rb)
}

func routesOf(v *view) string {
	var rs []wire.SelfRoute
	var serves []string
	if v.Self != nil {
		rs, serves = v.Self.Routes, v.Self.Serves
	}
	b, _ := json.Marshal(struct {
		Routes []wire.SelfRoute
		Serves []string
	}{rs, serves})
	return string(b)
}

func filterOf(v *view) string {
	if v.Self == nil || v.Self.Filter == nil {
		return "none"
	}
	b, _ := json.Marshal(v.Self.Filter)
	return string(b)
}

func peersOf(v *view) []string {
	var out []string
	for id, p := range v.Peers {
		out = append(out, id+"/"+p.Name+"/"+strings.Join(p.Tags, ",")+"/"+strings.Join(p.Postures, ",")+"/"+strings.Join(p.Groups, ","))
	}
	sort.Strings(out)
	return out
}

// TestPolicyDeltasEqualScratch: random policies over a random fleet with
// random changes (enrollments, revocations, retags, renames, endpoint moves,
// policy set and cleared). Every machine follows deltas, some falling
// several versions behind; each map it builds must equal what the policy
// allows computed from scratch — so no map ever holds a peer the policy
// forbids both ways — and policy and tag changes must mostly arrive as
// deltas.
func TestPolicyDeltasEqualScratch(t *testing.T) {
	var all deltaCoverage
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			c := testPolicyDeltas(t, seed)
			all.routed += c.routed
			all.factSteps += c.factSteps
			all.withPostures += c.withPostures
			all.dirSteps += c.dirSteps
			all.withGroups += c.withGroups
		})
	}
	// What the random walks covered, over every seed (one seed may
	// happen to advertise few routes).
	if all.routed < 80 {
		t.Fatalf("only %d maps carried routes: the test no longer covers them", all.routed)
	}
	if all.factSteps < 40 || all.withPostures < 80 {
		t.Fatalf("%d fact changes, %d maps with postures: the test no longer covers postures", all.factSteps, all.withPostures)
	}
	if all.dirSteps < 20 || all.withGroups < 40 {
		t.Fatalf("%d directory changes, %d maps with peers' groups: the test no longer covers the directory", all.dirSteps, all.withGroups)
	}
}

// deltaCoverage counts what a random walk of testPolicyDeltas exercised.
type deltaCoverage struct {
	routed, factSteps, withPostures, dirSteps, withGroups int
}

func testPolicyDeltas(t *testing.T, seed uint64) deltaCoverage {
	f := newFixture(t, Options{LogSize: 64})
	ctx := context.Background()
	admin := store.Actor{Name: "admin:t"}
	rng := mrand.New(mrand.NewPCG(seed, 7))
	views := map[string]*view{}
	var live []wire.Machine
	names := func() []string {
		var out []string
		for _, m := range live {
			out = append(out, m.Name)
		}
		return out
	}
	retag := func(m wire.Machine) {
		var tags []string
		for i := 1; i <= 4; i++ {
			if rng.IntN(3) == 0 {
				tags = append(tags, fmt.Sprintf("t%d", i))
			}
		}
		_, ch, err := f.db.UpdateMachine(ctx, admin, m.ID, nil, &tags)
		if err != nil {
			t.Fatal(err)
		}
		f.sync(t, ch)
	}
	setPolicy := func(text string) {
		_, ch, ok, err := f.db.SetPolicy(ctx, admin, text, "")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			f.sync(t, ch)
		}
	}
	// Two people, two directory groups; machines get owners as they go.
	var people []string
	for _, n := range []string{"ann@example.com", "ben@example.com"} {
		p, err := f.db.CreatePerson(ctx, admin, store.PersonInput{UserName: n, Active: true})
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, p.ID)
	}
	var groups []string
	for _, n := range []string{"D1", "D2"} {
		g, _, err := f.db.CreateGroup(ctx, admin, store.GroupInput{Name: n, Members: people[:1]})
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g.ID)
	}
	for i := range 8 {
		m := f.enroll(t)
		live = append(live, m)
		views[m.ID] = &view{}
		retag(m)
		owner := []string{"", "ann@example.com", "ben@example.com"}[i%3]
		if _, ch, err := f.db.ChangeMachine(ctx, admin, m.ID, store.MachineChange{Owner: &owner}); err != nil {
			t.Fatal(err)
		} else {
			f.sync(t, ch)
		}
	}
	setPolicy(randomPolicy(rng, names()))
	var deltas, fulls, policyDeltas, routed, factSteps, withPostures, dirSteps, withGroups int
	routePool := []string{"10.20.0.0/16", "10.30.0.0/24", "0.0.0.0/0", "::/0"}
	for step := range 300 {
		policyStep := false
		switch op := rng.IntN(15); {
		case op == 13 && len(live) > 0:
			// A machine changes hands (or has none).
			owner := []string{"", "ann@example.com", "ben@example.com"}[rng.IntN(3)]
			_, ch, err := f.db.ChangeMachine(ctx, admin, live[rng.IntN(len(live))].ID, store.MachineChange{Owner: &owner})
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		case op == 14:
			// The directory moves a person in or out of a group, or
			// deactivates and reactivates them.
			person, group := people[rng.IntN(2)], groups[rng.IntN(2)]
			var chs []store.Change
			var err error
			switch rng.IntN(4) {
			case 0:
				_, chs, err = f.db.ChangeGroup(ctx, admin, group, store.GroupChange{Add: []string{person}})
			case 1:
				_, chs, err = f.db.ChangeGroup(ctx, admin, group, store.GroupChange{Remove: []string{person}})
			case 2:
				active := rng.IntN(3) > 0
				_, chs, err = f.db.ChangePerson(ctx, admin, person, store.PersonChange{Active: &active}, store.DeprovisionKeep)
			default:
				chs, err = f.db.SyncGroupNames(ctx, admin, person, []string{"D1", "D2"}[:rng.IntN(3)])
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range chs {
				f.sync(t, ch)
				dirSteps++
			}
		case op == 10 && len(live) > 0:
			// A machine advertises some routes (an exit node: both
			// default routes).
			var adv []string
			for _, r := range routePool[:2] {
				if rng.IntN(2) == 0 {
					adv = append(adv, r)
				}
			}
			if rng.IntN(3) == 0 {
				adv = append(adv, routePool[2:]...)
			}
			sort.Strings(adv)
			_, ch, changed, err := f.db.SetAdvertisedRoutes(ctx, admin, live[rng.IntN(len(live))].ID, adv, "")
			if err != nil {
				t.Fatal(err)
			}
			if changed {
				f.sync(t, ch)
			}
		case op == 11 && len(live) > 0:
			m := live[rng.IntN(len(live))]
			cur, _ := f.db.Machine(ctx, m.ID)
			if cur.Routes == nil || len(cur.Routes.Advertised) == 0 {
				continue
			}
			_, ch, err := f.db.DecideRoutes(ctx, admin, m.ID, wire.RouteDecision{}, rng.IntN(3) != 0)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		case op == 0 || len(live) < 4:
			m := f.enroll(t)
			live = append(live, m)
			views[m.ID] = &view{}
		case op == 1:
			i := rng.IntN(len(live))
			_, ch, err := f.db.RevokeMachine(ctx, admin, live[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
			delete(views, live[i].ID)
			live = append(live[:i], live[i+1:]...)
		case op <= 4:
			retag(live[rng.IntN(len(live))])
		case op == 5:
			i := rng.IntN(len(live))
			name := fmt.Sprintf("r%d", step)
			_, ch, err := f.db.UpdateMachine(ctx, admin, live[i].ID, &name, nil)
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
			live[i].Name = name
		case op == 6:
			ch, _, err := f.db.SetEndpoints(ctx, live[rng.IntN(len(live))].ID, []string{fmt.Sprintf("192.0.2.%d:51820", step%250+1)})
			if err != nil {
				t.Fatal(err)
			}
			f.sync(t, ch)
		case op == 7 && rng.IntN(4) == 0:
			setPolicy("")
			policyStep = true
		case op == 12:
			// The machine's agent reports other facts, or an update's
			// outcome: its postures, so its class, may change.
			m := live[rng.IntN(len(live))]
			rep := wire.HealthReport{AgentVersion: "1.4.0"}
			if rng.IntN(3) > 0 {
				rep.Facts = &wire.Facts{OS: wire.OSFacts{Version: fmt.Sprint(11 + rng.IntN(3))}, Agent: fmt.Sprintf("1.%d.0", 3+rng.IntN(2))}
			} else {
				rep.Update = &wire.UpdateStatus{From: "1.3.0", To: "1.4.0", State: []string{"ok", "failed"}[rng.IntN(2)], At: time.Unix(int64(step), 0)}
			}
			changes, err := f.db.SaveHealth(ctx, []store.HealthEntry{{MachineID: m.ID, ReceivedAt: time.Now(), Report: rep}}, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range changes {
				f.sync(t, ch)
				factSteps++
			}
		default:
			setPolicy(randomPolicy(rng, names()))
			policyStep = true
		}
		for id, v := range views {
			if rng.IntN(3) == 0 && v.Version != 0 {
				continue // falls behind for a while
			}
			nm, ok := f.hub.Map(id, v.Version)
			if !ok {
				t.Fatalf("step %d: %s dropped out of the map", step, id)
			}
			switch {
			case nm.Full:
				fulls++
			case !nm.Unchanged:
				deltas++
				if policyStep {
					policyDeltas++
				}
			}
			v.apply(t, nm)
			got := peersOf(v)
			want, wantFilter, wantRoutes := scratchRoutes(t, f.db, id)
			if gotFilter := filterOf(v); gotFilter != wantFilter {
				t.Fatalf("step %d: %s enforces %s, want %s", step, id, gotFilter, wantFilter)
			}
			if v.Self != nil && len(v.Self.Routes) > 0 {
				routed++
			}
			for _, p := range v.Peers {
				if len(p.Postures) > 0 {
					withPostures++
					break
				}
			}
			for _, p := range v.Peers {
				if len(p.Groups) > 0 {
					withGroups++
					break
				}
			}
			if gotRoutes := routesOf(v); gotRoutes != wantRoutes {
				sp, _ := f.db.Policy(ctx)
				t.Fatalf("step %d: %s's routes after %s\n got %s\nwant %s\npolicy:\n%s", step, id, mapKind(nm), gotRoutes, wantRoutes, sp.Text)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				sp, _ := f.db.Policy(ctx)
				t.Fatalf("step %d: %s's map after %s\n got %v\nwant %v\npolicy:\n%s", step, id, mapKind(nm), got, want, sp.Text)
			}
		}
	}
	t.Logf("seed %d: %d deltas (%d right after a policy change), %d full maps, %d maps with routes to use, %d fact changes, %d maps with peers' postures, %d directory changes, %d maps with peers' groups",
		seed, deltas, policyDeltas, fulls, routed, factSteps, withPostures, dirSteps, withGroups)

	// A policy whose posture definitions change (one in six here, and every
	// clearing of the policy) sends full maps by design, which is why
	// deltas outnumber full maps twice, not five times as without them.
	if policyDeltas < 50 || deltas < 2*fulls {
		t.Fatalf("policy changes should reach agents as deltas: %d deltas (%d after policy changes), %d full maps", deltas, policyDeltas, fulls)
	}
	return deltaCoverage{routed, factSteps, withPostures, dirSteps, withGroups}
}

func mapKind(nm wire.NetMap) string {
	switch {
	case nm.Full:
		return "a full map"
	case nm.Unchanged:
		return "unchanged"
	}
	return fmt.Sprintf("a delta (+%d ~%d -%d)", len(nm.Added), len(nm.Changed), len(nm.Removed))
}

// After a restart the hub knows the change log but not what came before
// it: a reader behind the restart still gets the changes it missed.
func TestPolicyReaderBehindARestart(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	admin := store.Actor{Name: "admin:t"}
	if _, ch, _, err := f.db.SetPolicy(ctx, admin, `{"rules": [{"src": ["*"], "dst": ["*"]}]}`, ""); err != nil {
		t.Fatal(err)
	} else {
		f.sync(t, ch)
	}
	r := f.enroll(t)
	v := &view{}
	nm, _ := f.hub.Map(r.ID, 0)
	v.apply(t, nm)
	x := f.enroll(t)                      // while r is away…
	hub, err := New(ctx, f.db, Options{}) // …the server restarts
	if err != nil {
		t.Fatal(err)
	}
	nm, ok := hub.Map(r.ID, v.Version)
	if !ok {
		t.Fatal("reader not in the restarted hub's map")
	}
	v.apply(t, nm)
	if _, ok := v.Peers[x.ID]; !ok {
		t.Fatalf("after the restart the reader got %s and does not know %s", mapKind(nm), x.Name)
	}
}

// A reader of a quiet class may fall any number of changes behind between
// two wake-ups (at 50,000 agents, thousands of enrollments) and is still
// owed nothing: it must get an empty answer, not its full map. Before,
// every held poll further than maxPolicyDelta behind got a full map at
// every wake-up, all at once, stalling the server for seconds.
func TestPolicyQuietReaderFarBehindGetsNothing(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	reader, peer := f.enroll(t), f.enroll(t)
	text := fmt.Sprintf(`{"rules": [{"src": ["machine:%s"], "dst": ["machine:%s"], "ports": ["22"]}]}`, reader.Name, peer.Name)
	if _, ch, _, err := f.db.SetPolicy(ctx, store.Actor{Name: "admin:t"}, text, ""); err != nil {
		t.Fatal(err)
	} else {
		f.sync(t, ch)
	}
	v := &view{}
	nm, _ := f.hub.Map(reader.ID, 0)
	v.apply(t, nm)
	for range maxPolicyDelta + 50 { // machines the reader does not see
		f.enroll(t)
	}
	r, _ := f.hub.Reply(reader.ID, v.Version)
	if !r.Empty() {
		nm, _ = f.hub.Map(reader.ID, v.Version)
		t.Fatalf("%d changes the reader does not see: got %s, want an empty answer", maxPolicyDelta+50, mapKind(nm))
	}
	// What it sees still arrives, however far behind it is.
	if _, ch, err := f.db.RevokeMachine(ctx, store.Actor{Name: "admin:t"}, peer.ID); err != nil {
		t.Fatal(err)
	} else {
		f.sync(t, ch)
	}
	nm, _ = f.hub.Map(reader.ID, v.Version)
	v.apply(t, nm)
	if _, ok := v.Peers[peer.ID]; ok || len(v.Peers) != 0 {
		t.Fatalf("after %s the reader still has peers %v", mapKind(nm), v.Peers)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirefleet/wirefleet/pkg/client"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// With -team-size T the fleet is split into teams of T machines, half
// laptops and half servers, tagged t<K>-laptop and t<K>-server, under a
// policy in which a team's laptops reach its servers: each machine sees
// about T/2 peers instead of the whole fleet. The victims of the timed
// revocations are team 0's laptops; only team 0's servers see them.

// teamOf returns agent i's team and whether it is a laptop.
func (s *sim) teamOf(i int) (int, bool) {
	t := s.o.teamSize
	if i >= s.o.n { // a victim
		return 0, true
	}
	return i / t, i%t < t/2
}

func (s *sim) teams() int { return (s.o.n + s.o.teamSize - 1) / s.o.teamSize }

// teamPolicy writes the policy: per team, laptops → servers on 22 and 443,
// and, with icmp, ping too. With -postures N it defines N postures and
// team K's rule requires posture K mod N of its laptops.
func (s *sim) teamPolicy(icmp bool) string {
	var tags, rules, postures []string
	for j := range s.o.postures {
		postures = append(postures, fmt.Sprintf(`"p%d": ["os.version >= 12", "agent.version >= 1.0.0", "disk.encrypted", "cpu.cores >= %d"]`, j, 1+j%4))
	}
	for k := range s.teams() {
		tags = append(tags, fmt.Sprintf(`"tag:t%d-laptop", "tag:t%d-server"`, k, k))
		posture := ""
		if s.o.postures > 0 {
			posture = fmt.Sprintf(`, "srcPosture": ["p%d"]`, k%s.o.postures)
		}
		rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "tcp", "ports": ["22", "443"]%s}`, k, k, posture))
		if icmp {
			rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "icmp"}`, k, k))
		}
	}
	pos := ""
	if len(postures) > 0 {
		pos = "  \"postures\": {\n    " + strings.Join(postures, ",\n    ") + "\n  },\n"
	}
	return "{\n  // simulate -team-size\n  \"tags\": [" + strings.Join(tags, ",\n    ") + "],\n" + pos + "  \"rules\": [\n    " + strings.Join(rules, ",\n    ") + "\n  ]\n}\n"
}

// setupTeams puts the team policy in force and creates one reusable token
// per team and role.
func (s *sim) setupTeams(ctx context.Context) error {
	if _, err := s.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: s.teamPolicy(false)}); err != nil {
		return fmt.Errorf("set the team policy: %w", err)
	}
	s.teamTokens = map[string]string{}
	if err := s.provisionPeople(ctx); err != nil {
		return err
	}
	for k := range s.teams() {
		for _, role := range []string{"laptop", "server"} {
			tag := fmt.Sprintf("t%d-%s", k, role)
			owner := ""
			if role == "laptop" && k < len(s.people) {
				owner = personName(k)
			}
			tok, err := s.admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, ExpiresIn: "2h", Tags: []string{tag}, Owner: owner})
			if err != nil {
				return err
			}
			s.teamTokens[tag] = tok.Secret
		}
	}
	return nil
}

// tokenFor returns the token agent i enrolls with.
func (s *sim) tokenFor(i int) string {
	if s.o.teamSize <= 0 {
		return s.token
	}
	k, laptop := s.teamOf(i)
	role := "server"
	if laptop {
		role = "laptop"
	}
	return s.teamTokens[fmt.Sprintf("t%d-%s", k, role)]
}

// sees reports whether agent i is sent victim v's removal: everyone in a
// full mesh, team 0's servers under the team policy.
func (s *sim) sees(i int) bool {
	if s.o.teamSize <= 0 {
		return true
	}
	k, laptop := s.teamOf(i)
	return k == 0 && !laptop
}

// policyRound is a policy change being timed: each agent stamps the
// arrival of the map carrying the new policy version in its filter.
type policyRound struct {
	marker []byte
	at     []atomic.Int64
}

func (r *policyRound) note(i int, body []byte) {
	if bytes.Contains(body, r.marker) {
		r.at[i].CompareAndSwap(0, time.Now().UnixNano())
	}
}

// timePolicyChange changes the policy for every machine at once (each
// team's servers also accept pings: every server's filter changes, and
// every agent is sent its own rules again) and times how long the change
// takes to reach every agent, and the server CPU it costs.
func (s *sim) timePolicyChange(ctx context.Context, sum map[string]any) {
	cur, err := s.admin.Policy(ctx)
	must(err)
	r := &policyRound{marker: []byte(fmt.Sprintf(`"filter":{"policy":%d,`, cur.Version+1)), at: make([]atomic.Int64, len(s.agents))}
	s.pol.Store(r)
	cpu0 := cpuTicks(s.o.pid)
	start := time.Now()
	p, err := s.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: s.teamPolicy(true)})
	must(err)
	returned := time.Since(start)
	got := arrivals(r.at, start, len(s.agents), 60*time.Second)
	cpu := float64(cpuTicks(s.o.pid)-cpu0) / 100
	fmt.Fprintf(os.Stderr, "policy v%d (%d rules) reached %d of %d agents: p50 %v, p99 %v, all %v; server CPU %.2f s\n",
		p.Version, p.Rules, len(got), len(s.agents), pct(got, 0.5).Round(time.Millisecond), pct(got, 0.99).Round(time.Millisecond), pct(got, 1).Round(time.Millisecond), cpu)
	sum["policy_rules"] = p.Rules
	sum["policy_set_returned_ms"] = ms(returned)
	sum["policy_reached"] = len(got)
	sum["policy_p50_ms"] = ms(pct(got, 0.5))
	sum["policy_p99_ms"] = ms(pct(got, 0.99))
	sum["policy_all_ms"] = ms(pct(got, 1))
	sum["policy_server_cpu_s"] = round(cpu)
}

// seers counts the agents a victim's removal is sent to.
func (s *sim) seers() int {
	n := 0
	for i := range s.agents {
		if s.sees(i) {
			n++
		}
	}
	return n
}

// healthyFacts are what every simulated agent reports at its start: they
// satisfy every -postures posture.
func healthyFacts() *wire.Facts {
	yes := true
	return &wire.Facts{Hostname: "sim", OS: wire.OSFacts{Name: "debian", Version: "12.7", Kernel: "6.1.0-26-amd64", Arch: "amd64"},
		CPU: wire.CPUFacts{Model: "simulated", Cores: 4}, MemoryBytes: 8 << 30, Agent: "1.0.0",
		Disks:    []wire.DiskFacts{{Mount: "/", SizeBytes: 100 << 30, FreeBytes: 50 << 30, Encrypted: &yes}},
		Firewall: wire.FirewallFacts{Enabled: &yes, Name: "nftables"}, Cloud: wire.CloudFacts{Provider: "none"}}
}

// factRound is a fact change being timed: the changed laptops of each
// team, and per server of those teams the ones whose removal it has seen.
type factRound struct {
	changed map[int][]string // team → the changed laptops' IDs
	seen    []atomic.Uint64  // per agent: bit j = team's changed laptop j seen removed
	at      []atomic.Int64
	s       *sim
}

func (r *factRound) note(i int, body []byte) {
	k, laptop := r.s.teamOf(i)
	ids := r.changed[k]
	if laptop || len(ids) == 0 || r.at[i].Load() != 0 {
		return
	}
	// A delta names each removed laptop; a full map (a reader too far
	// behind a large burst) has them removed when it names none of them.
	full := bytes.Contains(body[:min(len(body), 64)], []byte(`"full":true`))
	for j, id := range ids {
		if in := bytes.Contains(body, []byte(`"`+id+`"`)); in != full {
			r.seen[i].Or(1 << j)
		} else if full {
			return // a full map that still holds one: not yet
		}
	}
	if r.seen[i].Load() == 1<<len(ids)-1 {
		r.at[i].CompareAndSwap(0, time.Now().UnixNano())
	}
}

// timeFactChange has -fact-change laptops, spread evenly over the teams,
// report at once facts that fail every posture (an OS downgraded below
// the postures' minimum): each leaves its team servers' maps. It times
// until every server of those teams has had them all removed, and the
// server CPU it costs.
func (s *sim) timeFactChange(ctx context.Context, sum map[string]any) {
	teams := s.teams()
	per := (s.o.factChange + teams - 1) / teams
	if per > 64 {
		per = 64
	}
	r := &factRound{changed: map[int][]string{}, seen: make([]atomic.Uint64, len(s.agents)), at: make([]atomic.Int64, len(s.agents)), s: s}
	var movers []*agent
	for i, a := range s.agents {
		k, laptop := s.teamOf(i)
		if laptop && len(r.changed[k]) < per && len(movers) < s.o.factChange {
			r.changed[k] = append(r.changed[k], a.id)
			movers = append(movers, a)
		}
	}
	affected := 0
	for i := range s.agents {
		if k, laptop := s.teamOf(i); !laptop && len(r.changed[k]) > 0 {
			affected++
		}
	}
	s.facts.Store(r)
	cpu0 := cpuTicks(s.o.pid)
	start := time.Now()
	var wg sync.WaitGroup
	var errs atomic.Int64
	sem := make(chan struct{}, 64)
	for _, a := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			hc, _ := client.New(s.o.server, client.WithToken(a.cred), client.WithHTTPClient(s.restCl))
			f := healthyFacts()
			f.OS.Version = "11"
			if _, err := hc.ReportHealth(ctx, wire.HealthReport{At: time.Now(), AgentVersion: "1.0.0", OS: "linux", Facts: f}); err != nil {
				errs.Add(1)
			}
		}()
	}
	wg.Wait()
	sent := time.Since(start)
	removed := s.removals(r, start, cpu0, affected, "fact_change", sum)
	fmt.Fprintf(os.Stderr, "%d laptops failed their posture (reports sent in %v, %d refused); %s\n",
		len(movers), sent.Round(time.Millisecond), errs.Load(), removed)
	sum["fact_change_machines"] = len(movers)
}

// removals waits for every affected server to have its team's changed
// laptops removed, records the arrival percentiles and the server's CPU
// since cpu0 in sum under prefix, and says them in words.
func (s *sim) removals(r *factRound, start time.Time, cpu0 int64, affected int, prefix string, sum map[string]any) string {
	got := arrivals(r.at, start, affected, 60*time.Second)
	cpu := float64(cpuTicks(s.o.pid)-cpu0) / 100
	sum[prefix+"_servers"] = affected
	sum[prefix+"_reached"] = len(got)
	sum[prefix+"_p50_ms"] = ms(pct(got, 0.5))
	sum[prefix+"_p99_ms"] = ms(pct(got, 0.99))
	sum[prefix+"_all_ms"] = ms(pct(got, 1))
	sum[prefix+"_server_cpu_s"] = round(cpu)
	return fmt.Sprintf("%d of %d servers had them removed: p50 %v, p99 %v, all %v; server CPU %.2f s", len(got), affected,
		pct(got, 0.5).Round(time.Millisecond), pct(got, 0.99).Round(time.Millisecond), pct(got, 1).Round(time.Millisecond), cpu)
}

// arrivals waits up to within for want agents to stamp at (Unix ns, 0:
// not yet) and returns each stamp's delay after start.
func arrivals(at []atomic.Int64, start time.Time, want int, within time.Duration) []time.Duration {
	var got []time.Duration
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		for i := range at {
			if t := at[i].Load(); t != 0 {
				got = append(got, time.Unix(0, t).Sub(start))
			}
		}
		if len(got) >= want {
			break
		}
	}
	return got
}

// personName is the account of team k's laptops' owner (-deprovision).
func personName(k int) string { return fmt.Sprintf("person-%d@sim.example", k) }

// scim sends a SCIM request as the identity provider would and decodes
// the answer.
func (s *sim) scim(ctx context.Context, method, path, body string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.o.server+wire.PathSCIM+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.scimToken)
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := s.admin.HTTPClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && resp.StatusCode != http.StatusNoContent {
		return nil, fmt.Errorf("SCIM %s %s: %d, %v", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("SCIM %s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out, nil
}

// provisionPeople, with -deprovision N, provisions N people over SCIM,
// one per team, all in one directory group.
func (s *sim) provisionPeople(ctx context.Context) error {
	if s.o.deprovision <= 0 {
		return nil
	}
	st, err := s.admin.CreateSCIMToken(ctx)
	if err != nil {
		return fmt.Errorf("create a SCIM token: %w", err)
	}
	s.scimToken = st.Secret
	var members []string
	for k := range min(s.o.deprovision, s.teams()) {
		u, err := s.scim(ctx, http.MethodPost, "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}`, personName(k)))
		if err != nil {
			return err
		}
		id, _ := u["id"].(string)
		s.people = append(s.people, id)
		members = append(members, fmt.Sprintf(`{"value":%q}`, id))
	}
	_, err = s.scim(ctx, http.MethodPost, "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Simulated","members":[`+strings.Join(members, ",")+`]}`)
	return err
}

// timeDeprovision deactivates every -deprovision person over SCIM at once
// (the server expires their laptops, --deprovision-machines' default) and
// times until every server of their teams has had those laptops removed,
// and the server CPU it costs.
func (s *sim) timeDeprovision(ctx context.Context, sum map[string]any) {
	r := &factRound{changed: map[int][]string{}, seen: make([]atomic.Uint64, len(s.agents)), at: make([]atomic.Int64, len(s.agents)), s: s}
	machines := 0 // every laptop of those teams expires; up to 64 a team are watched for
	for i, a := range s.agents {
		k, laptop := s.teamOf(i)
		if laptop && k < len(s.people) {
			machines++
			if len(r.changed[k]) < 64 {
				r.changed[k] = append(r.changed[k], a.id)
			}
		}
	}
	affected := 0
	for i := range s.agents {
		if k, laptop := s.teamOf(i); !laptop && len(r.changed[k]) > 0 {
			affected++
		}
	}
	s.facts.Store(r)
	cpu0 := cpuTicks(s.o.pid)
	start := time.Now()
	var wg sync.WaitGroup
	var errs atomic.Int64
	var slowest atomic.Int64
	for _, id := range s.people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if _, err := s.scim(ctx, http.MethodPatch, "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}`); err != nil {
				errs.Add(1)
				fmt.Fprintln(os.Stderr, "deprovision:", err)
			}
			for d := int64(time.Since(t0)); ; {
				cur := slowest.Load()
				if d <= cur || slowest.CompareAndSwap(cur, d) {
					break
				}
			}
		}()
	}
	wg.Wait()
	removed := s.removals(r, start, cpu0, affected, "deprovision", sum)
	fmt.Fprintf(os.Stderr, "%d people deactivated over SCIM (%d failed; slowest answer %v), %d laptops expired; %s\n",
		len(s.people), errs.Load(), time.Duration(slowest.Load()).Round(time.Millisecond), machines, removed)
	sum["deprovision_people"] = len(s.people)
	sum["deprovision_machines"] = machines
	sum["deprovision_slowest_answer_ms"] = ms(time.Duration(slowest.Load()))
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

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
// and, with icmp, ping too.
func (s *sim) teamPolicy(icmp bool) string {
	var tags, rules []string
	for k := range s.teams() {
		tags = append(tags, fmt.Sprintf(`"tag:t%d-laptop", "tag:t%d-server"`, k, k))
		rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "tcp", "ports": ["22", "443"]}`, k, k))
		if icmp {
			rules = append(rules, fmt.Sprintf(`{"src": ["tag:t%d-laptop"], "dst": ["tag:t%d-server"], "proto": "icmp"}`, k, k))
		}
	}
	return "{\n  // simulate -team-size\n  \"tags\": [" + strings.Join(tags, ",\n    ") + "],\n  \"rules\": [\n    " + strings.Join(rules, ",\n    ") + "\n  ]\n}\n"
}

// setupTeams puts the team policy in force and creates one reusable token
// per team and role.
func (s *sim) setupTeams(ctx context.Context) error {
	if _, err := s.admin.SetPolicy(ctx, wire.PutPolicyRequest{Text: s.teamPolicy(false)}); err != nil {
		return fmt.Errorf("set the team policy: %w", err)
	}
	s.teamTokens = map[string]string{}
	for k := range s.teams() {
		for _, role := range []string{"laptop", "server"} {
			tag := fmt.Sprintf("t%d-%s", k, role)
			tok, err := s.admin.CreateToken(ctx, wire.CreateTokenRequest{Reusable: true, ExpiresIn: "2h", Tags: []string{tag}})
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
	var got []time.Duration
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got = got[:0]
		for i := range r.at {
			if at := r.at[i].Load(); at != 0 {
				got = append(got, time.Unix(0, at).Sub(start))
			}
		}
		if len(got) == len(s.agents) {
			break
		}
	}
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

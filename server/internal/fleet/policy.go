package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// policyFleet is the active fleet as the policy sees it (tests and
// queries may name machines by name or address).
func (s *Service) policyFleet(ctx context.Context) ([]policy.Machine, error) {
	ms, err := s.db.ListMachines(ctx, store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		return nil, err
	}
	out := make([]policy.Machine, 0, len(ms))
	for _, m := range ms {
		out = append(out, policy.MachineOf(m))
	}
	return out, nil
}

// PolicyInForce returns the stored policy and its compiled form (nil
// when none is set): the hub's when it has applied that version, so a
// query or a page view does not parse up to 1 MiB again.
func (s *Service) PolicyInForce(ctx context.Context) (*policy.Policy, store.StoredPolicy, error) {
	sp, err := s.db.Policy(ctx)
	if err != nil || sp.Text == "" {
		return nil, sp, err
	}
	if p, v := s.hub.Policy(); p != nil && v == sp.Version {
		return p, sp, nil
	}
	p, err := policy.Load([]byte(sp.Text))
	if err != nil {
		return nil, sp, fmt.Errorf("fleet: the stored policy does not load: %w", err)
	}
	return p, sp, nil
}

// Policy returns the policy in force with its tests' results.
func (s *Service) Policy(ctx context.Context) (wire.Policy, error) {
	p, sp, err := s.PolicyInForce(ctx)
	if err != nil {
		return wire.Policy{}, err
	}
	out := wirePolicy(sp)
	if p == nil {
		return out, nil
	}
	fl, err := s.policyFleet(ctx)
	if err != nil {
		return out, err
	}
	out.Rules, out.Tests = p.Rules(), testResults(p, fl)
	return out, nil
}

func wirePolicy(sp store.StoredPolicy) wire.Policy {
	out := wire.Policy{Version: sp.Version, Text: sp.Text, Author: sp.Author, Tests: []wire.PolicyTestResult{}}
	if !sp.CreatedAt.IsZero() {
		t := sp.CreatedAt
		out.CreatedAt = &t
	}
	return out
}

func testResults(p *policy.Policy, fl []policy.Machine) []wire.PolicyTestResult {
	out := []wire.PolicyTestResult{}
	for _, r := range p.TestResults(fl) {
		out = append(out, wire.PolicyTestResult{Src: r.Src, Dst: r.Dst, Accept: r.Accept, Pass: r.Pass})
	}
	return out
}

// invalid turns a policy's problems into the API error.
func invalid(err error) error {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return err
	}
	we := &wire.Error{Code: wire.CodePolicyInvalid, Message: fmt.Sprintf("the policy has %d problem(s); nothing was changed: %s", len(pe.Problems), pe.Problems[0])}
	for _, p := range pe.Problems {
		we.Problems = append(we.Problems, wire.Problem{Line: p.Line, Col: p.Col, Path: p.Path, Message: p.Msg})
	}
	return we
}

// SetPolicy checks text (syntax, names, every test, against the fleet as
// it is) and, unless dryRun, puts it in force: the hub sends every agent
// whose peers change a delta before this returns. Blank text removes the
// policy (every machine reaches every machine again).
func (s *Service) SetPolicy(ctx context.Context, a Actor, text string, dryRun bool) (wire.Policy, error) {
	if strings.TrimSpace(text) == "" {
		text = ""
	}
	fl, err := s.policyFleet(ctx)
	if err != nil {
		return wire.Policy{}, err
	}
	var p *policy.Policy
	if text != "" {
		if p, err = policy.Parse([]byte(text), fl); err != nil {
			return wire.Policy{}, invalid(err)
		}
	}
	cur, err := s.db.Policy(ctx)
	if err != nil {
		return wire.Policy{}, err
	}
	out := wire.Policy{Version: cur.Version, Text: text, Tests: []wire.PolicyTestResult{}}
	if p != nil {
		out.Rules, out.Tests = p.Rules(), testResults(p, fl)
	}
	if dryRun {
		return out, nil
	}
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(cur.Text), B: difflib.SplitLines(text),
		FromFile: fmt.Sprintf("policy v%d", cur.Version), ToFile: "new", Context: 2,
	})
	if len(diff) > 16<<10 {
		diff = diff[:16<<10] + "\n… (diff cut at 16 KiB)"
	}
	sp, ch, changed, err := s.db.SetPolicy(ctx, a, text, diff)
	if err != nil {
		return out, err
	}
	if changed {
		if err := s.synced(ctx, ch); err != nil {
			return out, err
		}
		s.log.Info("access policy changed", "version", sp.Version, "by", a.Name, "rules", out.Rules, "cleared", text == "")
	}
	res := wirePolicy(sp)
	res.Rules, res.Tests, res.Applied = out.Rules, out.Tests, changed
	return res, nil
}

// QueryPolicy answers whether q.Src may reach q.Dst under the policy in
// force.
func (s *Service) QueryPolicy(ctx context.Context, q wire.PolicyQuery) (wire.PolicyAnswer, error) {
	if _, err := policy.ParseTarget(q.Dst); err != nil {
		return wire.PolicyAnswer{}, wire.Errorf(wire.CodeInvalidArgument, "%v", err)
	}
	p, sp, err := s.PolicyInForce(ctx)
	if err != nil {
		return wire.PolicyAnswer{}, err
	}
	if p == nil {
		return wire.PolicyAnswer{Allowed: true, Version: sp.Version, Reason: "no policy is set: every machine reaches every machine"}, nil
	}
	fl, err := s.policyFleet(ctx)
	if err != nil {
		return wire.PolicyAnswer{}, err
	}
	given, err := policy.GivenFacts(q.SrcFacts)
	if err != nil {
		return wire.PolicyAnswer{}, err
	}
	ex, err := p.Explain(q.Src, q.Dst, fl, given)
	if err != nil {
		return wire.PolicyAnswer{}, wire.Errorf(wire.CodeInvalidArgument, "%v", err)
	}
	i := ex.Rule
	if i < 0 && ex.PostureRule >= 0 {
		var why []string
		for _, m := range ex.Missing {
			why = append(why, fmt.Sprintf("posture %s: %s", m.Name, strings.Join(m.Reasons, "; ")))
		}
		return wire.PolicyAnswer{Version: sp.Version, Reason: fmt.Sprintf("rule %d would allow it, but the source has none of its postures (%s)", ex.PostureRule+1, strings.Join(why, "; "))}, nil
	}
	if i < 0 {
		return wire.PolicyAnswer{Version: sp.Version, Reason: "no rule allows it (default deny)"}, nil
	}
	r := p.Doc.Rules[i]
	return wire.PolicyAnswer{Allowed: true, Version: sp.Version,
		Reason: fmt.Sprintf("rule %d allows it (src %s, dst %s)", i+1, strings.Join(r.Src, ","), strings.Join(r.Dst, ","))}, nil
}

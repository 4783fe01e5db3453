package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Who may do what. An owner (an admin, the local operator, the server)
// acts with a nil scope and may do everything. A person with a team role
// acts with their teams' scope (store.Scope): a team admin manages the
// machines carrying a tag their team owns and the tokens whose every tag
// is one, decides those machines' routes and reads their audit; a team
// member reads their team's machines; everyone reads and approves their
// own machines. Everything else — the policy, flags, names, releases,
// people, teams, the server — is the owners'.
//
// Allow is the one decision: every fleet method that changes or reads
// something scoped calls it, and the adapters (the API's and the
// console's routes) ask it for the owner-only ones, so a route added
// without a decision is refused to team roles by default.

// Action is what an actor asks to do.
type Action int

// Actions.
const (
	// ActOwner is anything only owners do.
	ActOwner Action = iota
	// ActManageMachine changes a machine (rename, re-tag, pin, expiry,
	// owner, revoke, delete, key rotation, route decisions).
	ActManageMachine
	// ActReadMachine reads a machine (its page, health, flows).
	ActReadMachine
	// ActManageToken makes or revokes an enrollment token.
	ActManageToken
	// ActTeam is a team route at all: any team role (the route filters
	// what it shows by the scope).
	ActTeam
)

// Target is what an action is on: tags (a machine's or a token's) and,
// for a machine, its owner.
type Target struct {
	Name  string
	Tags  []string
	Owner string
}

// ErrOutOfScope wraps every refusal of a scoped actor.
var ErrOutOfScope = errors.New("outside your teams")

// Allow decides whether a may do act on t; a refusal is forbidden, with
// the reason.
func Allow(a Actor, act Action, t Target) error {
	sc := a.Scope
	if sc == nil {
		return nil
	}
	ok := false
	switch act {
	case ActManageMachine:
		ok = sc.Manages(t.Tags)
	case ActReadMachine:
		ok = sc.Sees(t.Tags, t.Owner)
	case ActManageToken:
		ok = sc.ManagesAll(t.Tags)
	case ActTeam:
		ok = len(sc.AdminTeams)+len(sc.MemberTeams) > 0
	}
	if ok {
		return nil
	}
	what := "this"
	switch {
	case act == ActOwner:
		what = "this (fleet admins only)"
	case act == ActTeam:
		what = "this: you are in no team"
	case act == ActManageToken && len(t.Tags) == 0:
		what = "a token without your teams' tags (give --tag with one of: " + strings.Join(tagList(sc.AdminTags), ", ") + ")"
	case t.Name != "":
		what = t.Name + " (" + ErrOutOfScope.Error() + ")"
	}
	return &forbidden{msg: "you may not do " + what}
}

// forbidden is a refusal of scope: wire's forbidden, and ErrOutOfScope.
type forbidden struct{ msg string }

func (f *forbidden) Error() string { return f.msg }
func (f *forbidden) Unwrap() []error {
	return []error{wire.Errorf(wire.CodeForbidden, "%s", f.msg), ErrOutOfScope}
}

func tagList(m map[string]bool) []string {
	var out []string
	for t := range m {
		out = append(out, "tag:"+t)
	}
	slices.Sort(out)
	return out
}

// ScopeOf returns what an account may administer (nil: everything).
func (s *Service) ScopeOf(ctx context.Context, adminID string) (*store.Scope, error) {
	return s.db.ScopeOf(ctx, adminID)
}

// machineFor loads a machine and checks act on it.
func (s *Service) machineFor(ctx context.Context, a Actor, act Action, idOrName string) (wire.Machine, error) {
	m, err := s.db.Machine(ctx, idOrName)
	if err != nil {
		return m, err
	}
	return m, Allow(a, act, Target{Name: "machine " + m.Name, Tags: m.Tags, Owner: m.Owner})
}

// Machine reads a machine within a's scope.
func (s *Service) Machine(ctx context.Context, a Actor, idOrName string) (wire.Machine, error) {
	return s.machineFor(ctx, a, ActReadMachine, idOrName)
}

// ListMachines lists the machines a may read.
func (s *Service) ListMachines(ctx context.Context, a Actor, f store.MachineFilter) ([]wire.Machine, error) {
	ms, err := s.db.ListMachines(ctx, f)
	if err != nil || a.Scope == nil {
		return ms, err
	}
	out := ms[:0]
	for _, m := range ms {
		if a.Scope.Sees(m.Tags, m.Owner) {
			out = append(out, m)
		}
	}
	return out, nil
}

// ListTokens lists the tokens a manages.
func (s *Service) ListTokens(ctx context.Context, a Actor) ([]wire.Token, error) {
	ts, err := s.db.ListTokens(ctx)
	if err != nil || a.Scope == nil {
		return ts, err
	}
	out := []wire.Token{}
	for _, t := range ts {
		if a.Scope.ManagesAll(t.Tags) {
			out = append(out, t)
		}
	}
	return out, nil
}

// ListAudit lists the audit events a may read: all for an owner; for a
// team role, those on the machines it reads and the tokens it manages.
func (s *Service) ListAudit(ctx context.Context, a Actor, f store.AuditFilter) (wire.AuditPage, error) {
	if a.Scope == nil {
		return s.db.ListAudit(ctx, f)
	}
	if err := Allow(a, ActTeam, Target{}); err != nil {
		return wire.AuditPage{}, err
	}
	ms, err := s.ListMachines(ctx, a, store.MachineFilter{})
	if err != nil {
		return wire.AuditPage{}, err
	}
	ts, err := s.ListTokens(ctx, a)
	if err != nil {
		return wire.AuditPage{}, err
	}
	targets := []string{}
	for _, m := range ms {
		targets = append(targets, m.ID)
	}
	for _, t := range ts {
		targets = append(targets, t.ID)
	}
	if f.Target != "" {
		if !slices.Contains(targets, f.Target) {
			return wire.AuditPage{Events: []wire.AuditEvent{}}, nil
		}
		targets = []string{f.Target}
	}
	f.Targets = targets
	return s.db.ListAudit(ctx, f)
}

// ListAPIKeys lists API keys: every one for an owner, one's own else.
func (s *Service) ListAPIKeys(ctx context.Context, a Actor) ([]wire.APIKey, error) {
	ks, err := s.db.ListAPIKeys(ctx)
	if err != nil || a.Scope == nil {
		return ks, err
	}
	out := []wire.APIKey{}
	for _, k := range ks {
		if k.Admin == a.Scope.Person {
			out = append(out, k)
		}
	}
	return out, nil
}

package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"regexp"
	"time"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

var sessionIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// sshSource returns the machine a destination's agent names as the
// source of a login, when the policy makes them peers (only then can an
// ssh rule admit it): an agent cannot ask about machines it never sees.
func (s *Service) sshSource(ctx context.Context, dst wire.Machine, src string) (wire.Machine, error) {
	if src == "" || len(src) > 64 {
		return wire.Machine{}, wire.Errorf(wire.CodeInvalidArgument, "src: the connecting machine's ID")
	}
	m, err := s.db.Machine(ctx, src)
	if err != nil || m.ID != src || m.State != "active" {
		return wire.Machine{}, wire.Errorf(wire.CodeNotFound, "no active machine %s", clip(src))
	}
	if pol, _ := s.hub.Policy(); pol == nil || !pol.Peers(policy.MachineOf(m), policy.MachineOf(dst)) {
		return wire.Machine{}, wire.Errorf(wire.CodeForbidden, "%s is not a peer of %s under the policy", m.Name, dst.Name)
	}
	return m, nil
}

// SSHCheck answers a destination's question for a "check" rule: has the
// owner of the connecting machine confirmed within the period? If not, a
// check is made (or the one asked about looked up) for the owner to
// confirm at baseURL/ssh/check/ID.
func (s *Service) SSHCheck(ctx context.Context, dst wire.Machine, req wire.SSHCheckRequest, baseURL string) (wire.SSHCheckAnswer, error) {
	src, err := s.sshSource(ctx, dst, req.Src)
	if err != nil {
		return wire.SSHCheckAnswer{}, err
	}
	if !policy.SSHUserAllowed([]string{"*"}, req.User) {
		return wire.SSHCheckAnswer{}, wire.Errorf(wire.CodeInvalidArgument, "user: a local user name")
	}
	period := time.Duration(req.Period) * time.Second
	if period < policy.MinCheckPeriod || period > policy.MaxCheckPeriod {
		return wire.SSHCheckAnswer{}, wire.Errorf(wire.CodeInvalidArgument, "period: %d–%d seconds", int(policy.MinCheckPeriod/time.Second), int(policy.MaxCheckPeriod/time.Second))
	}
	out := wire.SSHCheckAnswer{Owner: src.Owner}
	if src.Owner == "" {
		return out, nil
	}
	now := s.Now()
	if req.Check != "" {
		c, err := s.db.SSHCheck(ctx, req.Check)
		if err != nil || c.Dst != dst.ID || c.Src != src.ID {
			return wire.SSHCheckAnswer{}, wire.Errorf(wire.CodeNotFound, "no check %s for this login", clip(req.Check))
		}
		out.Check, out.URL = c.ID, baseURL+"/ssh/check/"+c.ID
		out.OK = c.ConfirmedAt != nil && now.Sub(*c.ConfirmedAt) <= period
		return out, nil
	}
	last, err := s.db.LastSSHConfirmation(ctx, src.Owner)
	if err != nil {
		return out, err
	}
	if !last.IsZero() && now.Sub(last) <= period {
		out.OK = true
		return out, nil
	}
	if req.Probe {
		return out, nil
	}
	id := "sc_" + randomHex(16)
	if err := s.db.CreateSSHCheck(ctx, store.SSHCheckRow{ID: id, Owner: src.Owner, Src: src.ID, Dst: dst.ID, Login: req.User, CreatedAt: now}); err != nil {
		return out, err
	}
	out.Check, out.URL = id, baseURL+"/ssh/check/"+id
	return out, nil
}

// SSHCheckFor returns check id as the person asked sees it: only its
// owner may (anyone else is told it does not exist).
func (s *Service) SSHCheckFor(ctx context.Context, account, id string) (wire.SSHCheck, error) {
	c, err := s.db.SSHCheck(ctx, id)
	if err != nil || account == "" || c.Owner != account {
		return wire.SSHCheck{}, wire.Errorf(wire.CodeNotFound, "no check %s of yours", clip(id))
	}
	out := wire.SSHCheck{ID: c.ID, Owner: c.Owner, Src: c.Src, Dst: c.Dst, User: c.Login, CreatedAt: c.CreatedAt, ConfirmedAt: c.ConfirmedAt}
	for _, p := range []*string{&out.Src, &out.Dst} {
		if m, err := s.db.Machine(ctx, *p); err == nil {
			*p = m.Name
		}
	}
	return out, nil
}

// ConfirmSSHCheck records that account — the owner of the connecting
// machine, signed in — confirms check id.
func (s *Service) ConfirmSSHCheck(ctx context.Context, a Actor, account, id string) (wire.SSHCheck, error) {
	if _, err := s.SSHCheckFor(ctx, account, id); err != nil {
		return wire.SSHCheck{}, err
	}
	if err := s.db.ConfirmSSHCheck(ctx, a, id, s.Now()); err != nil {
		return wire.SSHCheck{}, err
	}
	return s.SSHCheckFor(ctx, account, id)
}

// SSHSessionEvent records what destination m reports of a session.
func (s *Service) SSHSessionEvent(ctx context.Context, m wire.Machine, ev wire.SSHSessionEvent) error {
	if !sessionIDRe.MatchString(ev.ID) {
		return wire.Errorf(wire.CodeInvalidArgument, "id: 32 lowercase hex digits")
	}
	if len(ev.User) > 64 || len(ev.Command) > 2048 || len(ev.Reason) > 1024 || len(ev.Kind) > 16 || len(ev.Console) > 128 {
		return wire.Errorf(wire.CodeInvalidArgument, "a field is too long")
	}
	actor := Actor{Name: "machine:" + m.ID}
	switch ev.Event {
	case wire.SSHSessionStart:
		ss := wire.SSHSession{ID: ev.ID, Machine: m.ID, MachineName: m.Name, Console: ev.Console, User: ev.User, Kind: ev.Kind,
			Command: ev.Command, Start: s.Now().UTC(), Recorded: ev.Recorded}
		if ev.Console == "" {
			src, err := s.db.Machine(ctx, ev.Src)
			if err != nil || src.ID != ev.Src {
				return wire.Errorf(wire.CodeNotFound, "no machine %s", clip(ev.Src))
			}
			ss.Src, ss.SrcName, ss.Owner = src.ID, src.Name, src.Owner
		}
		return s.db.StartSSHSession(ctx, actor, ss, ev.Rule)
	case wire.SSHSessionEnd:
		return s.db.EndSSHSession(ctx, actor, m.ID, ev.ID, s.Now().UTC(), ev.ExitStatus, ev.Reason)
	case wire.SSHSessionDeny:
		d := map[string]any{"user": ev.User, "reason": ev.Reason, "src_addr": ev.SrcAddr}
		if src, err := s.db.Machine(ctx, ev.Src); err == nil && src.ID == ev.Src {
			d["src"], d["owner"] = src.Name, src.Owner
		}
		return s.db.Audit(ctx, actor, "ssh.login.deny", m.Name, d)
	}
	return wire.Errorf(wire.CodeInvalidArgument, "event %q: start, end or deny", clip(ev.Event))
}

// AppendSSHRecording appends to m's recording of session id.
func (s *Service) AppendSSHRecording(ctx context.Context, m wire.Machine, id string, offset int64, data []byte) error {
	if !sessionIDRe.MatchString(id) {
		return wire.Errorf(wire.CodeInvalidArgument, "session id: 32 lowercase hex digits")
	}
	if offset < 0 {
		return wire.Errorf(wire.CodeInvalidArgument, "offset: 0 or more")
	}
	return s.db.AppendSSHRecording(ctx, m.ID, id, offset, data)
}

// SSHSessions lists sessions, newest first (machine: a name or ID).
func (s *Service) SSHSessions(ctx context.Context, a Actor, machine string, limit int) ([]wire.SSHSession, error) {
	id := ""
	if machine != "" {
		m, err := s.Machine(ctx, a, machine)
		if err != nil {
			return nil, err
		}
		id = m.ID
	}
	return s.db.SSHSessions(ctx, id, limit)
}

// SSHSession returns one session.
func (s *Service) SSHSession(ctx context.Context, id string) (wire.SSHSession, error) {
	return s.db.SSHSession(ctx, id)
}

// WriteSSHRecording writes session id's cast to w (ErrNotFound when the
// session was not recorded).
func (s *Service) WriteSSHRecording(ctx context.Context, id string, w io.Writer) error {
	ss, err := s.db.SSHSession(ctx, id)
	if err != nil || !ss.Recorded {
		return wire.Errorf(wire.CodeNotFound, "no recording of session %s", clip(id))
	}
	return s.db.WriteSSHRecording(ctx, id, w)
}

// PruneSSH drops sessions and recordings older than keepFor.
func (s *Service) PruneSSH(ctx context.Context, now time.Time, keepFor time.Duration) (int64, error) {
	if keepFor <= 0 {
		return 0, nil
	}
	return s.db.PruneSSH(ctx, now.Add(-keepFor))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ConsoleGrant says whether the policy lets the console's admins log in
// to machine m as login (an ssh rule naming it with src
// "autogroup:admin"); a check rule needs a sign-in within its period.
func (s *Service) ConsoleGrant(m wire.Machine, login string, signedIn time.Time) (wire.SSHRule, error) {
	if m.State != "active" {
		return wire.SSHRule{}, wire.Errorf(wire.CodeConflict, "%s is %s", m.Name, m.State)
	}
	if !policy.SSHUserAllowed([]string{"*"}, login) {
		return wire.SSHRule{}, wire.Errorf(wire.CodeInvalidArgument, "user %q: a local user name", clip(login))
	}
	pol, ver := s.hub.Policy()
	if pol == nil {
		return wire.SSHRule{}, wire.Errorf(wire.CodeForbidden, "there is no access policy, so no ssh rules: add one with src %q naming %s", wire.SSHConsoleSrc, m.Name)
	}
	r, ok := policy.ConsoleRule(pol.SSHFor(pol.ClassOf(policy.MachineOf(m)), ver), login)
	if !ok {
		return wire.SSHRule{}, wire.Errorf(wire.CodeForbidden, "no ssh rule lets admins log in to %s as %s from the console (one with src %q)", m.Name, login, wire.SSHConsoleSrc)
	}
	if r.Action == wire.SSHActionCheck {
		if period := time.Duration(r.CheckPeriod) * time.Second; s.Now().Sub(signedIn) > period {
			return wire.SSHRule{}, wire.Errorf(wire.CodeForbidden, "ssh rule %d asks for a sign-in within %s: sign out and in again", r.Rule+1, period)
		}
	}
	return r, nil
}

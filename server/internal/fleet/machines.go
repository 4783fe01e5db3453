package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/version"
	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Enrolled is the result of an enrollment: the new machine and its
// credential, which exists only here and in the answer to the agent.
type Enrolled struct {
	Machine    wire.Machine
	Credential string
}

// Enroll validates an enrollment request, consumes the token and creates
// the machine. source is the address the request came from: it is added
// to the endpoints the agent reported, and refusals are audited with it.
func (s *Service) Enroll(ctx context.Context, source netip.Addr, req wire.EnrollRequest) (Enrolled, error) {
	e, err := validateEnroll(&req)
	if err != nil {
		return Enrolled{}, err
	}
	e.Endpoints = withObserved(e.Endpoints, source, req.ListenPort)
	cred, credHash := secret.New(wire.PrefixMachineCred)
	e.CredentialHash = credHash
	e.Lifetime = s.cfg.MachineExpiry
	ip := addrString(source)
	m, ch, err := s.db.Enroll(ctx, Actor{SourceIP: ip}, e)
	if err != nil {
		if code := wire.ErrorCode(err); code != wire.CodeInternal {
			// Refusals are security events: keep them in the audit log.
			_ = s.db.Audit(context.WithoutCancel(ctx), Actor{Name: "anonymous", SourceIP: ip}, "machine.enroll_refused",
				"", map[string]any{"code": string(code), "hostname": req.Hostname})
		}
		return Enrolled{}, err
	}
	if err := s.synced(ctx, ch); err != nil {
		return Enrolled{}, err
	}
	s.log.Info("machine enrolled", "machine", m.ID, "name", m.Name, "ipv4", m.IPv4, "source", ip)
	return Enrolled{Machine: m, Credential: cred}, nil
}

// validateEnroll checks an enrollment request without touching the
// database and returns the store's view of it.
func validateEnroll(req *wire.EnrollRequest) (store.Enrollment, error) {
	if !secret.WellFormed(req.Token, wire.PrefixEnrollToken) {
		return store.Enrollment{}, wire.Errorf(wire.CodeTokenInvalid, "enrollment token is malformed (expected wfe_ followed by 52 characters)")
	}
	e, err := validateMachine(req)
	e.TokenHash = secret.Hash(req.Token)
	return e, err
}

// validateMachine checks what an enrollment request says about the
// machine (all of it but the token) and returns the store's view of it.
func validateMachine(req *wire.EnrollRequest) (store.Enrollment, error) {
	var e store.Enrollment
	if err := wire.ValidatePublicKey(req.PublicKey); err != nil {
		return e, err
	}
	if err := wire.ValidateFact("hostname", req.Hostname, wire.MaxHostnameLen, true); err != nil {
		return e, err
	}
	for _, f := range []struct {
		name, val string
		required  bool
	}{{"os", req.OS, true}, {"arch", req.Arch, true}, {"os_version", req.OSVersion, false}, {"agent_version", req.AgentVersion, true}} {
		if err := wire.ValidateFact(f.name, f.val, wire.MaxFactLen, f.required); err != nil {
			return e, err
		}
	}
	name := req.Name
	if name != "" {
		if err := wire.ValidateName(name); err != nil {
			return e, err
		}
	} else if name = wire.SanitizeName(req.Hostname); name == "" {
		name = "machine"
	}
	eps, err := wire.ValidateEndpoints(req.Endpoints)
	if err != nil {
		return e, err
	}
	if err := validatePort(req.ListenPort); err != nil {
		return e, err
	}
	return store.Enrollment{
		PublicKey: req.PublicKey, Hostname: req.Hostname, Name: name,
		OS: req.OS, OSVersion: req.OSVersion, Arch: req.Arch, AgentVersion: req.AgentVersion, Endpoints: eps,
	}, nil
}

func validatePort(p int) error {
	if p < 0 || p > 65535 {
		return wire.Errorf(wire.CodeInvalidArgument, "listen_port must be 0–65535")
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

// withObserved adds the source address the server saw, paired with the
// agent's WireGuard port, to the endpoints the agent reported.
func withObserved(eps []string, source netip.Addr, port int) []string {
	if port == 0 || !source.IsValid() || source.IsUnspecified() {
		return eps
	}
	obs := netip.AddrPortFrom(source.Unmap(), uint16(port)).String()
	for _, e := range eps {
		if e == obs {
			return eps
		}
	}
	if len(eps) >= wire.MaxEndpoints {
		eps = eps[:wire.MaxEndpoints-1]
	}
	return append(append([]string{}, eps...), obs)
}

// SetEndpoints records the endpoints a machine reports (plus the address
// the server observed) and returns what was stored.
func (s *Service) SetEndpoints(ctx context.Context, machineID string, source netip.Addr, eps []string, port int) ([]string, error) {
	eps, err := wire.ValidateEndpoints(eps)
	if err != nil {
		return nil, err
	}
	if err := validatePort(port); err != nil {
		return nil, err
	}
	eps = withObserved(eps, source, port)
	ch, changed, err := s.db.SetEndpoints(ctx, machineID, eps)
	if err != nil {
		return nil, err
	}
	if changed {
		if err := s.synced(ctx, ch); err != nil {
			return nil, err
		}
	}
	return eps, nil
}

// Rekey gives a machine a new WireGuard public key.
func (s *Service) Rekey(ctx context.Context, a Actor, machineID, publicKey string) (wire.Machine, error) {
	if err := wire.ValidatePublicKey(publicKey); err != nil {
		return wire.Machine{}, err
	}
	if cur, err := s.db.Machine(ctx, machineID); err == nil && cur.PublicKey == publicKey {
		return cur, nil // a retried rotation: the key is registered already
	}
	m, ch, err := s.db.Rekey(ctx, a, machineID, publicKey)
	if err == nil {
		s.log.Info("WireGuard key rotated", "machine", m.ID, "name", m.Name)
	}
	return s.done(ctx, m, ch, err)
}

// ExpireMachine takes a machine past its expiry out of every map (the
// janitor, or the first request after the time); a machine not due is
// left alone. It reports whether it expired the machine.
func (s *Service) ExpireMachine(ctx context.Context, a Actor, id string) (bool, error) {
	m, ch, expired, err := s.db.ExpireMachine(ctx, a, id)
	if err != nil || !expired {
		return false, err
	}
	s.log.Info("machine expired: out of every map until it re-authenticates", "machine", m.ID, "name", m.Name)
	_, err = s.done(ctx, m, ch, nil)
	return true, err
}

// Reauth brings back an expired machine with an enrollment token (the
// token is used as an enrollment would use it); it keeps its name,
// addresses, keys and tags.
func (s *Service) Reauth(ctx context.Context, a Actor, machineID, token string) (wire.Machine, error) {
	if !secret.WellFormed(token, wire.PrefixEnrollToken) {
		return wire.Machine{}, wire.Errorf(wire.CodeTokenInvalid, "malformed enrollment token (want wfe_…)")
	}
	m, ch, err := s.db.Reauth(ctx, a, machineID, secret.Hash(token), s.cfg.MachineExpiry)
	if err == nil {
		s.log.Info("machine re-authenticated", "machine", m.ID, "name", m.Name)
	}
	return s.done(ctx, m, ch, err)
}

// SetMachineExpiry turns a machine's expiry off ("off") or sets it to a
// duration from now; an expired machine comes back.
func (s *Service) SetMachineExpiry(ctx context.Context, a Actor, idOrName, expiry string) (wire.Machine, error) {
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	e, err := s.parseExpiry(expiry)
	if err != nil {
		return wire.Machine{}, err
	}
	m, ch, err := s.db.ChangeMachine(ctx, a, idOrName, store.MachineChange{Expiry: &e})
	return s.done(ctx, m, ch, err)
}

// parseExpiry reads an admin's expiry: "off" (or "never"), or a duration
// from now.
func (s *Service) parseExpiry(expiry string) (store.ExpiryChange, error) {
	if expiry == "off" || expiry == "never" {
		return store.ExpiryChange{Off: true}, nil
	}
	d, err := ParseTTL(expiry)
	if err != nil {
		return store.ExpiryChange{}, wire.Errorf(wire.CodeInvalidArgument, "expiry: \"off\" or a duration from now such as 720h: %v", err)
	}
	return store.ExpiryChange{At: s.Now().Add(d)}, nil
}

// IssueNextCredential mints a machine's next credential (credential
// rotation): only its hash is stored; the current credential keeps working
// until the new one is first used.
func (s *Service) IssueNextCredential(ctx context.Context, machineID string) (string, error) {
	sec, hash := secret.New(wire.PrefixMachineCred)
	if err := s.db.IssueNextCredential(ctx, machineID, hash); err != nil {
		return "", err
	}
	return sec, nil
}

// RequestKeyRotation asks one machine's agent to replace its WireGuard
// key now; it does so at its next map, and peers follow through theirs.
func (s *Service) RequestKeyRotation(ctx context.Context, a Actor, idOrName string) (wire.Machine, error) {
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	m, ch, err := s.db.RequestKeyRotation(ctx, a, idOrName)
	return s.done(ctx, m, ch, err)
}

// RequestKeyRotationAll asks every active machine to replace its key (the
// answer to a suspected compromise) and returns how many were asked.
func (s *Service) RequestKeyRotationAll(ctx context.Context, a Actor) (int, error) {
	if err := Allow(a, ActOwner, Target{}); err != nil {
		return 0, err
	}
	ms, err := s.db.ListMachines(ctx, store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if _, err := s.RequestKeyRotation(ctx, a, m.ID); err != nil {
			var we *wire.Error
			if errors.Is(err, store.ErrNotFound) || errors.As(err, &we) && we.Code == wire.CodeConflict {
				continue // revoked or deleted meanwhile
			}
			return n, fmt.Errorf("fleet: rotate the key of %s: %w", m.Name, err)
		}
		n++
	}
	s.log.Info("WireGuard key rotation requested for the fleet", "machines", n, "by", a.Name)
	return n, nil
}

// MachineUpdate names what to change on a machine; nil fields stay as
// they are. An empty PinnedVersion unpins.
type MachineUpdate struct {
	Name          *string
	Tags          *[]string
	PinnedVersion *string
	Expiry        *string // "off", or a duration from now
	Owner         *string // a person's account name; "" for none
}

// UpdateMachine renames, re-tags and/or pins a machine.
func (s *Service) UpdateMachine(ctx context.Context, a Actor, idOrName string, u MachineUpdate) (wire.Machine, error) {
	if u.Name != nil {
		if err := wire.ValidateName(*u.Name); err != nil {
			return wire.Machine{}, err
		}
	}
	if u.Tags != nil {
		tags, err := wire.ValidateTags(*u.Tags)
		if err != nil {
			return wire.Machine{}, err
		}
		u.Tags = &tags
	}
	if u.PinnedVersion != nil && *u.PinnedVersion != "" {
		if err := version.Validate(*u.PinnedVersion); err != nil {
			return wire.Machine{}, err
		}
	}
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	if u.Tags != nil && a.Scope != nil && !a.Scope.ManagesAll(*u.Tags) {
		// A team admin keeps the machine in their teams: tags of others
		// would hand it (and what the policy grants them) elsewhere.
		return wire.Machine{}, Allow(a, ActManageToken, Target{Name: "tags " + strings.Join(*u.Tags, ", ")})
	}
	if u.Name == nil && u.Tags == nil && u.PinnedVersion == nil && u.Expiry == nil && u.Owner == nil {
		return wire.Machine{}, wire.Errorf(wire.CodeInvalidArgument, "nothing to change: give name, tags, pinned_version, expiry and/or owner")
	}
	if u.PinnedVersion != nil && *u.PinnedVersion != "" && s.cfg.Releases != nil && !s.cfg.Releases.HasVersion(*u.PinnedVersion) {
		return wire.Machine{}, wire.Errorf(wire.CodeNotFound, "version %s was never published: pin a version `wirefleet-server releases list` shows", *u.PinnedVersion)
	}
	c := store.MachineChange{Name: u.Name, Tags: u.Tags, Pin: u.PinnedVersion, Owner: u.Owner}
	if u.Expiry != nil {
		e, err := s.parseExpiry(*u.Expiry)
		if err != nil {
			return wire.Machine{}, err
		}
		c.Expiry = &e
	}
	// One transaction: one map version, one audit event, and nothing
	// half-done when a later part is refused.
	m, ch, err := s.db.ChangeMachine(ctx, a, idOrName, c)
	return s.done(ctx, m, ch, err)
}

// RevokeMachine revokes a machine: its credential stops working at once
// and every peer's held long-poll is answered without it.
func (s *Service) RevokeMachine(ctx context.Context, a Actor, idOrName string) (wire.Machine, error) {
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	m, ch, err := s.db.RevokeMachine(ctx, a, idOrName)
	if err == nil {
		s.log.Info("machine revoked", "machine", m.ID, "name", m.Name, "by", a.Name)
	}
	return s.done(ctx, m, ch, err)
}

// DeleteMachine removes a machine.
func (s *Service) DeleteMachine(ctx context.Context, a Actor, idOrName string) (wire.Machine, error) {
	if _, err := s.machineFor(ctx, a, ActManageMachine, idOrName); err != nil {
		return wire.Machine{}, err
	}
	m, ch, err := s.db.DeleteMachine(ctx, a, idOrName)
	if err == nil {
		s.log.Info("machine deleted", "machine", m.ID, "name", m.Name, "by", a.Name)
	}
	return s.done(ctx, m, ch, err)
}

// done finishes a map-changing mutation: on success it waits for the hub.
func (s *Service) done(ctx context.Context, m wire.Machine, ch store.Change, err error) (wire.Machine, error) {
	if err != nil {
		return wire.Machine{}, err
	}
	if err := s.synced(ctx, ch); err != nil {
		return wire.Machine{}, err
	}
	return m, nil
}

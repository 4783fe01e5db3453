package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// PendingTTL is how long an interactive enrollment waits for a decision.
const PendingTTL = 15 * time.Minute

// codeAlphabet has no 0/O, 1/I/L: codes are read off a screen and typed.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// newCode returns a code such as "KQ7X-M3PA" (40 bits).
func newCode() string {
	var b [8]byte
	rand.Read(b[:])
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[int(c)%len(codeAlphabet)])
	}
	return string(out)
}

// RequestEnrollment records a machine's request to join without a token
// (Token is ignored) and returns its code and the secret the agent waits
// with. Nothing is enrolled until an admin approves the code.
func (s *Service) RequestEnrollment(ctx context.Context, source netip.Addr, req wire.EnrollRequest) (code, waitSecret string, p store.Pending, err error) {
	req.Token = ""
	if _, err := validateMachine(&req); err != nil {
		return "", "", store.Pending{}, err
	}
	sec, hash := secret.New(wire.PrefixPendingSecret)
	code = newCode()
	p, err = s.db.CreatePending(ctx, code, hash, addrString(source), req, PendingTTL)
	if err != nil {
		return "", "", store.Pending{}, err
	}
	s.log.Info("interactive enrollment requested", "code", code, "hostname", req.Hostname, "source", addrString(source))
	return code, sec, p, nil
}

// DecideEnrollment approves or denies a waiting request; the approver
// becomes the machine's owner.
func (s *Service) DecideEnrollment(ctx context.Context, a Actor, code string, approve bool) (store.Pending, error) {
	return s.db.DecidePending(ctx, a, code, approve)
}

// ErrStillWaiting is returned by CollectEnrollment while nobody decided.
var ErrStillWaiting = errors.New("fleet: the enrollment request is still waiting for an admin")

// CollectEnrollment is the waiting agent's turn: once its request is
// approved, the machine is enrolled (its owner is the approver) and its
// credential returned, once; a denied or expired request says so.
func (s *Service) CollectEnrollment(ctx context.Context, source netip.Addr, waitSecret string) (Enrolled, error) {
	if !secret.WellFormed(waitSecret, wire.PrefixPendingSecret) {
		return Enrolled{}, wire.Errorf(wire.CodeUnauthenticated, "malformed enrollment secret")
	}
	p, err := s.db.PendingBySecret(ctx, secret.Hash(waitSecret))
	if errors.Is(err, store.ErrNotFound) {
		return Enrolled{}, wire.Errorf(wire.CodeUnauthenticated, "unknown enrollment secret")
	}
	if err != nil {
		return Enrolled{}, err
	}
	switch p.State {
	case store.PendingWaiting:
		return Enrolled{}, ErrStillWaiting
	case store.PendingDenied:
		return Enrolled{}, wire.Errorf(wire.CodeEnrollmentDenied, "%s denied this machine's enrollment", p.DecidedBy)
	case store.PendingExpired:
		return Enrolled{}, wire.Errorf(wire.CodeEnrollmentExpired, "nobody approved enrollment %s within %s; run enroll again", p.Code, PendingTTL)
	case store.PendingEnrolled:
		return Enrolled{}, wire.Errorf(wire.CodeConflict, "enrollment %s was completed already", p.Code)
	}
	req := p.Request
	e, err := validateMachine(&req)
	if err != nil {
		return Enrolled{}, err
	}
	e.Endpoints = withObserved(e.Endpoints, source, req.ListenPort)
	cred, credHash := secret.New(wire.PrefixMachineCred)
	e.CredentialHash, e.Lifetime, e.PendingCode, e.Owner = credHash, s.cfg.MachineExpiry, p.Code, ownerName(p.DecidedBy)
	m, ch, err := s.db.Enroll(ctx, Actor{Name: p.DecidedBy, SourceIP: addrString(source)}, e)
	if err != nil {
		return Enrolled{}, fmt.Errorf("fleet: enroll the approved machine: %w", err)
	}
	if err := s.synced(ctx, ch); err != nil {
		return Enrolled{}, err
	}
	s.log.Info("machine enrolled interactively", "machine", m.ID, "name", m.Name, "owner", m.Owner, "code", p.Code)
	return Enrolled{Machine: m, Credential: cred}, nil
}

// ownerName turns an actor ("admin:alice@example.com (sso)") into the
// owner recorded on the machine ("alice@example.com").
func ownerName(actor string) string {
	for _, p := range []string{"admin:", "member:"} {
		actor = strings.TrimPrefix(actor, p)
	}
	return strings.TrimSuffix(actor, " (sso)")
}

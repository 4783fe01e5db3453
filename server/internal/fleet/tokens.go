package fleet

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// MaxTokenTTL bounds token lifetimes: a forgotten reusable token should not
// enroll machines years later.
const MaxTokenTTL = 366 * 24 * time.Hour

// MaxTokenUses bounds a reusable token's use limit.
const MaxTokenUses = 1_000_000

// TokenSpec describes an enrollment token to create.
type TokenSpec struct {
	Reusable  bool
	Ephemeral bool
	MaxUses   int // 0 = unlimited (reusable) or 1 (single-use)
	Tags      []string
	TTL       time.Duration // 0 = the default
	// MachineExpiry is how long machines it enrolls stay enrolled (0: the
	// server's --machine-expiry).
	MachineExpiry time.Duration
	// Owner is the person whose machines it enrolls ("" none).
	Owner string
}

// ParseTTL reads a token or key lifetime such as "90m", "24h" or "720h";
// it must be positive.
func ParseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, wire.Errorf(wire.CodeInvalidArgument, "invalid duration %q (use e.g. 90m, 24h, 720h)", clip(s))
	}
	if d <= 0 {
		return 0, wire.Errorf(wire.CodeInvalidArgument, "expiry must be positive (e.g. 90m, 24h, 720h)")
	}
	return d, nil
}

// CreateToken validates spec, creates the token and returns it with its
// secret (shown once; only the hash is stored).
func (s *Service) CreateToken(ctx context.Context, a Actor, spec TokenSpec) (wire.Token, string, error) {
	tags, err := wire.ValidateTags(spec.Tags)
	if err != nil {
		return wire.Token{}, "", err
	}
	if err := Allow(a, ActManageToken, Target{Name: "a token tagged " + strings.Join(tags, ", "), Tags: tags}); err != nil {
		return wire.Token{}, "", err
	}
	if spec.MaxUses < 0 || spec.MaxUses > MaxTokenUses {
		return wire.Token{}, "", wire.Errorf(wire.CodeInvalidArgument, "max uses must be a number from 0 (unlimited) to %d", MaxTokenUses)
	}
	if spec.MaxUses > 1 && !spec.Reusable {
		return wire.Token{}, "", wire.Errorf(wire.CodeInvalidArgument, "more than one use (max_uses above 1) needs a reusable token")
	}
	ttl := spec.TTL
	if ttl == 0 {
		ttl = s.cfg.DefaultTokenTTL
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return wire.Token{}, "", wire.Errorf(wire.CodeInvalidArgument, "expiry must be between 1s and %s (e.g. 1h, 24h, 720h)", MaxTokenTTL)
	}
	if spec.MachineExpiry < 0 || spec.MachineExpiry > 0 && spec.MachineExpiry < time.Hour {
		return wire.Token{}, "", wire.Errorf(wire.CodeInvalidArgument, "machine expiry must be at least 1h (e.g. 720h, 4320h)")
	}
	exp := s.Now().Add(ttl).UTC()
	sec, hash := secret.New(wire.PrefixEnrollToken)
	t, err := s.db.CreateToken(ctx, a, store.NewToken{
		Prefix: secret.Display(sec), Hash: hash, Reusable: spec.Reusable, Ephemeral: spec.Ephemeral,
		MaxUses: spec.MaxUses, Tags: tags, ExpiresAt: &exp, MachineExpiry: spec.MachineExpiry, Owner: spec.Owner,
	})
	if err != nil {
		return wire.Token{}, "", err
	}
	return t, sec, nil
}

// RevokeToken revokes an enrollment token by ID or prefix.
func (s *Service) RevokeToken(ctx context.Context, a Actor, idOrPrefix string) (wire.Token, error) {
	if a.Scope != nil {
		ts, err := s.ListTokens(ctx, a)
		if err != nil {
			return wire.Token{}, err
		}
		if !slices.ContainsFunc(ts, func(t wire.Token) bool { return t.ID == idOrPrefix || t.Prefix == idOrPrefix }) {
			return wire.Token{}, Allow(a, ActManageToken, Target{Name: "token " + idOrPrefix})
		}
	}
	return s.db.RevokeToken(ctx, a, idOrPrefix)
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

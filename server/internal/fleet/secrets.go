package fleet

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Secrets is the server's own secret store as the service drives it: the
// daemon's, which knows where each secret is used (the TLS listener, the
// metrics handler, single sign-on, the release keys).
type Secrets interface {
	Status() wire.SecretsStatus
	// Seal seals a plain store in place (a no-op when sealed).
	Seal() error
	// RotateKEK re-seals everything under a new KEK; it returns the new
	// KEK's public half.
	RotateKEK() (string, error)
	// RotateSigning replaces the single-box release signing key, signs a
	// new key list with the root and re-signs the published releases.
	RotateSigning() (int, error)
	// RotateMetrics makes a new metrics token and returns it.
	RotateMetrics() (string, error)
	// SetSSOSecret stores the client secret the provider issued.
	SetSSOSecret(secret string) error
}

// SecretsStatus lists the server's secrets (names, ages, never values).
func (s *Service) SecretsStatus() (wire.SecretsStatus, error) {
	if s.cfg.Secrets == nil {
		return wire.SecretsStatus{}, wire.Errorf(wire.CodeUnavailable, "this server has no secret store")
	}
	return s.cfg.Secrets.Status(), nil
}

// SealSecrets seals the server's plain secrets in place while it serves:
// the keys do not change, so agents keep their pins and tunnels.
func (s *Service) SealSecrets(ctx context.Context, a Actor) (wire.SecretsStatus, error) {
	if s.cfg.Secrets == nil {
		return wire.SecretsStatus{}, wire.Errorf(wire.CodeUnavailable, "this server has no secret store")
	}
	before := s.cfg.Secrets.Status()
	if err := s.cfg.Secrets.Seal(); err != nil {
		return before, fmt.Errorf("fleet: seal the secrets: %w", err)
	}
	st := s.cfg.Secrets.Status()
	if before.Mode != st.Mode {
		if err := s.db.Audit(ctx, a, "secrets.seal", "secrets", map[string]any{"source": st.Source, "recipient": st.Recipient, "secrets": len(st.Secrets)}); err != nil {
			return st, err
		}
		s.log.Info("secrets sealed", "source", st.Source, "secrets", len(st.Secrets))
	}
	return st, nil
}

// RotateSecret replaces one of the server's secrets and audits it. tls
// is RotateTLS (the two-pin rotation, keys sealed when the store is).
func (s *Service) RotateSecret(ctx context.Context, a Actor, tls TLSKeys, req wire.RotateSecretRequest) (wire.RotateSecretResponse, error) {
	out := wire.RotateSecretResponse{Secret: req.Secret}
	if req.Secret == "tls" {
		r, err := s.RotateTLS(ctx, a, tls, req.Force)
		out.Pin, out.NextPin = r.Pin, r.NextPin
		return out, err
	}
	sec := s.cfg.Secrets
	if sec == nil {
		return out, wire.Errorf(wire.CodeUnavailable, "this server has no secret store")
	}
	if req.Value != "" && req.Secret != "sso" {
		return out, wire.Errorf(wire.CodeInvalidArgument, "only the sso secret takes a value (the provider issues it); the server makes the others")
	}
	var err error
	details := map[string]any{}
	switch req.Secret {
	case "kek":
		out.Recipient, err = sec.RotateKEK()
		details["recipient"] = out.Recipient
	case "signing":
		out.Resigned, err = sec.RotateSigning()
		details["resigned_manifests"] = out.Resigned
	case "metrics":
		out.Token, err = sec.RotateMetrics()
	case "sso":
		if len(req.Value) < 8 || len(req.Value) > 4096 {
			return out, wire.Errorf(wire.CodeInvalidArgument, "give the new client secret the identity provider issued (8–4096 characters)")
		}
		err = sec.SetSSOSecret(req.Value)
	default:
		return out, wire.Errorf(wire.CodeInvalidArgument, "unknown secret %q: want tls, signing, sso, metrics or kek", req.Secret)
	}
	if err != nil {
		return out, err
	}
	if err := s.db.Audit(ctx, a, "secret.rotate", req.Secret, details); err != nil {
		return out, err
	}
	s.log.Info("secret rotated", slog.String("secret", req.Secret))
	return out, nil
}

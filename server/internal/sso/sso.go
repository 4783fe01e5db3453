// Package sso signs admins in through the company's OpenID Connect
// provider: the authorization code flow with PKCE, state and nonce, the ID
// token verified against the provider's keys (github.com/coreos/go-oidc),
// and admission by e-mail domain or group.
package sso

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Config is how the server talks to the provider and whom it admits.
type Config struct {
	Issuer       string // the provider's issuer URL (discovery at /.well-known/openid-configuration)
	ClientID     string
	ClientSecret string
	RedirectURL  string // this server's callback: <external URL>/sso/callback
	// AllowedDomains admits verified e-mail addresses in these domains;
	// AdminGroups admits members of these groups (the GroupsClaim claim,
	// default "groups"). At least one must be set.
	AllowedDomains []string
	AdminGroups    []string
	// MemberDomains and MemberGroups admit users as members: they may
	// approve the machines they add (interactive enrollment), nothing
	// else. The admin rules win.
	MemberDomains []string
	MemberGroups  []string
	GroupsClaim   string
	// HTTPClient reaches the provider (nil: http.DefaultClient).
	HTTPClient *http.Client
}

// Provider is a discovered OpenID provider.
type Provider struct {
	cfg        Config
	provider   *oidc.Provider
	verifier   *oidc.IDTokenVerifier
	oauth      atomic.Pointer[oauth2.Config] // replaced whole when the client secret rotates
	endSession string                        // RP-initiated logout endpoint ("" when the provider has none)
}

// New discovers the provider; it fails when the issuer does not answer or
// no admission rule is set.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("sso: --oidc-issuer and --oidc-client-id are both needed")
	}
	if len(cfg.AllowedDomains) == 0 && len(cfg.AdminGroups) == 0 && len(cfg.MemberDomains) == 0 && len(cfg.MemberGroups) == 0 {
		return nil, errors.New("sso: say whom the provider's users admit: --oidc-allowed-domains and/or --oidc-admin-groups (otherwise anyone with an account there would be an admin)")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta) // optional: without it sign-out stays local
	pr := &Provider{
		cfg:        cfg,
		provider:   p,
		endSession: meta.EndSession,
		verifier:   p.Verifier(&oidc.Config{ClientID: cfg.ClientID}),
	}
	pr.oauth.Store(&oauth2.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, RedirectURL: cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "email", "profile"},
	})
	return pr, nil
}

// SetClientSecret replaces the client secret (secrets rotate sso): sign-ins
// begun before finish with the new one, as the provider then expects.
func (p *Provider) SetClientSecret(secret string) {
	c := *p.oauth.Load()
	c.ClientSecret = secret
	p.oauth.Store(&c)
}

// Issuer names the provider (for the sign-in button).
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Login is one sign-in in progress: what the callback must be given back
// (State) and must check (Nonce, Verifier).
type Login struct {
	State, Nonce, Verifier string
}

// Begin starts a sign-in: fresh state, nonce and PKCE verifier, and the
// provider's URL to send the browser to.
func (p *Provider) Begin() (Login, string) {
	l := Login{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	return l, p.oauth.Load().AuthCodeURL(l.State, oidc.Nonce(l.Nonce), oauth2.S256ChallengeOption(l.Verifier))
}

// Identity is who signed in.
type Identity struct {
	Subject string
	Email   string
	Name    string
	Groups  []string
	// HasGroups says the groups claim was there (an empty list included):
	// only then does a sign-in set the person's directory groups.
	HasGroups bool
	// Role is what the rules admit the user as: wire.RoleAdmin or
	// wire.RoleMember.
	Role string
	// IDToken is the raw ID token: the hint LogoutURL gives the provider.
	IDToken string
}

// ErrNotAdmitted is wrapped by Finish when the provider vouched for the
// user but the admission rules do not admit them.
var ErrNotAdmitted = errors.New("sso: not admitted")

// Finish redeems the code of login (PKCE), verifies the ID token
// (signature, issuer, audience, expiry, nonce), reads the user's claims
// (from the ID token, else the userinfo endpoint) and applies the
// admission rules.
func (p *Provider) Finish(ctx context.Context, l Login, code string) (Identity, error) {
	if p.cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, p.cfg.HTTPClient)
	}
	tok, err := p.oauth.Load().Exchange(ctx, code, oauth2.VerifierOption(l.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("sso: redeem the code: %w", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok {
		return Identity{}, errors.New("sso: the provider returned no ID token")
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("sso: verify the ID token: %w", err)
	}
	if idt.Nonce != l.Nonce {
		return Identity{}, errors.New("sso: the ID token's nonce does not match this sign-in (a replayed token?)")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("sso: read the ID token's claims: %w", err)
	}
	if _, ok := claims["email"]; !ok {
		ui, err := p.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("sso: userinfo: %w", err)
		}
		if ui.Subject != idt.Subject {
			return Identity{}, errors.New("sso: userinfo names another user than the ID token")
		}
		if err := ui.Claims(&claims); err != nil {
			return Identity{}, fmt.Errorf("sso: read userinfo claims: %w", err)
		}
	}
	_, hasGroups := claims[p.cfg.GroupsClaim]
	id := Identity{Subject: idt.Subject, Email: str(claims["email"]), Name: str(claims["name"]), Groups: strs(claims[p.cfg.GroupsClaim]), HasGroups: hasGroups, IDToken: raw}
	verified, _ := claims["email_verified"].(bool)
	role, err := p.admit(id, verified)
	id.Role = role
	return id, err
}

// LogoutURL is where to send the browser to end the user's session at the
// provider too (OpenID Connect RP-Initiated Logout), coming back to
// postLogout, which must be registered there as a post-logout redirect
// URI. ok is false when the provider offers no end_session_endpoint.
func (p *Provider) LogoutURL(idToken, postLogout string) (u string, ok bool) {
	if p.endSession == "" {
		return "", false
	}
	q := url.Values{"client_id": {p.cfg.ClientID}, "post_logout_redirect_uri": {postLogout}}
	if idToken != "" {
		q.Set("id_token_hint", idToken)
	}
	sep := "?"
	if strings.Contains(p.endSession, "?") {
		sep = "&"
	}
	return p.endSession + sep + q.Encode(), true
}

// admit applies the rules, admin rules first: membership of an admin
// group, or a verified address in an allowed domain, admits an admin;
// the same for the member rules admits a member.
func (p *Provider) admit(id Identity, emailVerified bool) (string, error) {
	if id.Email == "" {
		return "", fmt.Errorf("%w: the provider gave no e-mail address", ErrNotAdmitted)
	}
	_, domain, _ := strings.Cut(strings.ToLower(id.Email), "@")
	unverified := false
	for _, r := range []struct {
		role            string
		groups, domains []string
	}{{wire.RoleAdmin, p.cfg.AdminGroups, p.cfg.AllowedDomains}, {wire.RoleMember, p.cfg.MemberGroups, p.cfg.MemberDomains}} {
		for _, g := range id.Groups {
			if slices.Contains(r.groups, g) {
				return r.role, nil
			}
		}
		if slices.Contains(r.domains, domain) {
			if emailVerified {
				return r.role, nil
			}
			unverified = true
		}
	}
	if unverified {
		return "", fmt.Errorf("%w: %s is not verified at the provider", ErrNotAdmitted, id.Email)
	}
	return "", fmt.Errorf("%w: %s is in no allowed domain and no admin group", ErrNotAdmitted, id.Email)
}

func random() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func str(v any) string { s, _ := v.(string); return s }

func strs(v any) []string {
	switch v := v.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return []string{v}
	}
	return nil
}

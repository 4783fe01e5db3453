package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/secret"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// Flag clients: applications outside the fleet that evaluate flags on
// the server (OFREP) with a client key. An owner manages every client; a
// team admin those of their teams, which evaluate the fleet's flags and
// their team's.

// Client kinds.
var clientKinds = []string{"service", "ci", "function", "backend", "other"}

// MaxClientRate bounds a client's requests per minute.
const MaxClientRate = 100_000_000

func allowClient(a Actor, team string) error {
	if a.Scope == nil || team != "" && slices.Contains(a.Scope.AdminTeams, team) {
		return nil
	}
	if team == "" {
		return &forbidden{msg: "you may not manage the whole fleet's flag clients (give the client one of your teams: " + strings.Join(a.Scope.AdminTeams, ", ") + ")"}
	}
	return &forbidden{msg: "you may not manage the flag clients of team " + team}
}

func validAllow(allow []string) ([]string, error) {
	out := make([]string, 0, len(allow))
	for _, s := range allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, wire.Errorf(wire.CodeInvalidArgument, "allow: %q is no address or CIDR (e.g. 203.0.113.0/24)", clip(s))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked().String())
	}
	if len(out) > 100 {
		return nil, wire.Errorf(wire.CodeInvalidArgument, "allow: at most 100 ranges")
	}
	return out, nil
}

// CreateFlagClient creates a client and its first key (the secret shown
// once).
func (s *Service) CreateFlagClient(ctx context.Context, a Actor, req wire.CreateFlagClientRequest) (wire.FlagClientKeyResponse, error) {
	if err := wire.ValidateName(req.Name); err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	if req.Kind == "" {
		req.Kind = "service"
	}
	if !slices.Contains(clientKinds, req.Kind) {
		return wire.FlagClientKeyResponse{}, wire.Errorf(wire.CodeInvalidArgument, "kind %q: use one of %s", clip(req.Kind), strings.Join(clientKinds, ", "))
	}
	if req.RatePerMinute < 0 || req.RatePerMinute > MaxClientRate {
		return wire.FlagClientKeyResponse{}, wire.Errorf(wire.CodeInvalidArgument, "rate_per_minute must be 0 (the server's default) to %d", MaxClientRate)
	}
	if len(req.Description) > 1000 {
		return wire.FlagClientKeyResponse{}, wire.Errorf(wire.CodeInvalidArgument, "description: at most 1000 bytes")
	}
	allow, err := validAllow(req.Allow)
	if err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	if err := allowClient(a, req.Team); err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	sec, hash := secret.New(wire.PrefixFlagClientKey)
	c, k, err := s.db.CreateFlagClient(ctx, a, wire.FlagClient{Name: req.Name, Description: req.Description, Kind: req.Kind, Team: req.Team,
		RatePerMinute: req.RatePerMinute, Allow: allow}, secret.Display(sec), hash)
	if err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	s.clientsChanged()
	return wire.FlagClientKeyResponse{Client: c, Key: k, Secret: sec}, nil
}

// clientForChange loads a client and checks a may manage it.
func (s *Service) clientForChange(ctx context.Context, a Actor, name string) (wire.FlagClient, error) {
	c, err := s.db.FlagClient(ctx, name)
	if err != nil {
		return c, err
	}
	return c, allowClient(a, c.Team)
}

// UpdateFlagClient enables, disables or reconfigures a client.
func (s *Service) UpdateFlagClient(ctx context.Context, a Actor, name string, u wire.UpdateFlagClientRequest) (wire.FlagClient, error) {
	if _, err := s.clientForChange(ctx, a, name); err != nil {
		return wire.FlagClient{}, err
	}
	c := store.FlagClientChange{Active: u.Active, Description: u.Description, RatePerMinute: u.RatePerMinute}
	if u.RatePerMinute != nil && (*u.RatePerMinute < 0 || *u.RatePerMinute > MaxClientRate) {
		return wire.FlagClient{}, wire.Errorf(wire.CodeInvalidArgument, "rate_per_minute must be 0 (the server's default) to %d", MaxClientRate)
	}
	if u.Allow != nil {
		allow, err := validAllow(*u.Allow)
		if err != nil {
			return wire.FlagClient{}, err
		}
		c.Allow = &allow
	}
	cl, _, err := s.db.ChangeFlagClient(ctx, a, name, c)
	if err == nil {
		s.clientsChanged()
	}
	return cl, err
}

// RotateFlagClientKey adds a key to a client (the secret shown once); its
// other keys keep working until revoked.
func (s *Service) RotateFlagClientKey(ctx context.Context, a Actor, name string) (wire.FlagClientKeyResponse, error) {
	if _, err := s.clientForChange(ctx, a, name); err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	sec, hash := secret.New(wire.PrefixFlagClientKey)
	c, k, err := s.db.ChangeFlagClient(ctx, a, name, store.FlagClientChange{NewKey: &[2]string{secret.Display(sec), hash}})
	if err != nil {
		return wire.FlagClientKeyResponse{}, err
	}
	return wire.FlagClientKeyResponse{Client: c, Key: k, Secret: sec}, nil
}

// RevokeFlagClientKey revokes one of a client's keys at once.
func (s *Service) RevokeFlagClientKey(ctx context.Context, a Actor, name, key string) (wire.FlagClient, error) {
	if _, err := s.clientForChange(ctx, a, name); err != nil {
		return wire.FlagClient{}, err
	}
	c, _, err := s.db.ChangeFlagClient(ctx, a, name, store.FlagClientChange{RevokeKey: key})
	if err == nil {
		s.clientsChanged()
	}
	return c, err
}

// DeleteFlagClient removes a client.
func (s *Service) DeleteFlagClient(ctx context.Context, a Actor, name string) error {
	if _, err := s.clientForChange(ctx, a, name); err != nil {
		return err
	}
	if err := s.db.DeleteFlagClient(ctx, a, name); err != nil {
		return err
	}
	s.clientsChanged()
	return nil
}

// BulkFlagClients enables, disables or rotates several clients, each its
// own audited change; it stops at the first refusal.
func (s *Service) BulkFlagClients(ctx context.Context, a Actor, req wire.BulkFlagClientsRequest) (wire.BulkFlagClientsResponse, error) {
	out := wire.BulkFlagClientsResponse{Done: []wire.FlagClientKeyResponse{}}
	if len(req.Names) == 0 || len(req.Names) > 1000 {
		return out, wire.Errorf(wire.CodeInvalidArgument, "name 1–1000 clients")
	}
	for _, n := range req.Names {
		var r wire.FlagClientKeyResponse
		var err error
		switch req.Action {
		case "enable", "disable":
			on := req.Action == "enable"
			r.Client, err = s.UpdateFlagClient(ctx, a, n, wire.UpdateFlagClientRequest{Active: &on})
		case "rotate":
			r, err = s.RotateFlagClientKey(ctx, a, n)
		default:
			return out, wire.Errorf(wire.CodeInvalidArgument, "action %q: use enable, disable or rotate", clip(req.Action))
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", n, err)
		}
		out.Done = append(out.Done, r)
	}
	return out, nil
}

// FlagClients lists the clients a may see: all for an owner, their
// teams' for a team role.
func (s *Service) FlagClients(ctx context.Context, a Actor) ([]wire.FlagClient, error) {
	cs, err := s.db.FlagClients(ctx)
	if err != nil || a.Scope == nil {
		return cs, err
	}
	out := []wire.FlagClient{}
	for _, c := range cs {
		if c.Team != "" && (slices.Contains(a.Scope.AdminTeams, c.Team) || slices.Contains(a.Scope.MemberTeams, c.Team)) {
			out = append(out, c)
		}
	}
	return out, nil
}

// FlagUsage says who evaluated a flag (within a's scope of flags).
func (s *Service) FlagUsage(ctx context.Context, a Actor, key string) (wire.FlagUsage, error) {
	if _, err := s.Flag(ctx, a, key); err != nil {
		return wire.FlagUsage{}, err
	}
	return s.db.FlagUsage(ctx, key, s.Now())
}

// clientsChanged tells the OFREP server's cache of clients that one
// changed (ClientGeneration).
func (s *Service) clientsChanged() { s.clientGen.Add(1) }

// ClientGeneration moves whenever a client changes on this replica:
// cached client lookups older than it are not used.
func (s *Service) ClientGeneration() uint64 { return s.clientGen.Load() }

// FlagClientByKey returns the client a key (by hash) belongs to.
func (s *Service) FlagClientByKey(ctx context.Context, hash string) (wire.FlagClient, error) {
	return s.db.FlagClientByKey(ctx, hash)
}

// AddUsage stores evaluation counts.
func (s *Service) AddUsage(ctx context.Context, us []store.UsageCount) error {
	return s.db.AddUsage(ctx, us)
}

// PruneUsage deletes flag usage older than before (the janitor).
func (s *Service) PruneUsage(ctx context.Context, before time.Time) error {
	return s.db.PruneUsage(ctx, before)
}

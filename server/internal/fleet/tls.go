package fleet

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/wire"
	"github.com/wirefleet/wirefleet/server/internal/store"
)

// TLSKeys is the server's self-signed TLS identity with its announced
// next key (tlsutil.Keys).
type TLSKeys interface {
	Pin() string
	NextPin() string
	Rotate() error
}

// RotateTLS makes the server serve with the key it announced as next, and
// announces a new next key to every agent (in its map's Self). Agents pin
// both keys, so none loses the server, provided each already holds the
// next one: without force, the rotation is refused while an active
// machine's last health report does not list it.
func (s *Service) RotateTLS(ctx context.Context, a Actor, keys TLSKeys, force bool) (wire.TLSRotateResponse, error) {
	if keys == nil {
		return wire.TLSRotateResponse{}, wire.Errorf(wire.CodeConflict, "this server serves the operator's certificate (--tls-cert): renew it there; agents verify it against the system's CAs, not a pin")
	}
	next := keys.NextPin()
	ms, err := s.db.ListMachines(ctx, store.MachineFilter{State: wire.MachineActive})
	if err != nil {
		return wire.TLSRotateResponse{}, err
	}
	var lacking []string
	for _, m := range ms {
		if m.Health == nil || !slices.Contains(m.Health.ServerPins, next) {
			lacking = append(lacking, m.Name)
		}
	}
	if len(lacking) > 0 && !force {
		shown := lacking[:min(len(lacking), 10)]
		more := ""
		if len(lacking) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(lacking)-len(shown))
		}
		return wire.TLSRotateResponse{}, wire.Errorf(wire.CodeConflict,
			"%d active machine(s) have not confirmed the next key yet (%s%s): after the rotation they could not reach the server. "+
				"Agents learn it from their next map and confirm it in their next health report; offline machines when they return. "+
				"Wait, or rotate anyway with --force (those machines then need enrolling again)", len(lacking), strings.Join(shown, ", "), more)
	}
	old := keys.Pin()
	if err := keys.Rotate(); err != nil {
		return wire.TLSRotateResponse{}, fmt.Errorf("fleet: rotate the TLS key: %w", err)
	}
	ch, err := s.db.LogSelfChange(ctx, a, "tls", "tls.rotate", map[string]any{
		"old_pin": old, "pin": keys.Pin(), "next_pin": keys.NextPin(), "forced": force && len(lacking) > 0, "unconfirmed": len(lacking),
	})
	if err != nil {
		return wire.TLSRotateResponse{}, err
	}
	if err := s.synced(ctx, ch); err != nil {
		return wire.TLSRotateResponse{}, err
	}
	s.log.Info("TLS key rotated: new connections get the announced key; agents are told the next one", "pin", keys.Pin(), "next_pin", keys.NextPin())
	return wire.TLSRotateResponse{Pin: keys.Pin(), NextPin: keys.NextPin()}, nil
}

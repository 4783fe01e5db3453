package fleet

import (
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// PeerRelayAllowed answers relay machine m asking whether the machines
// with the keys in q may use it between them: only machines the policy
// lets reach each other may (the relay caches the answer for a while).
func (s *Service) PeerRelayAllowed(m wire.Machine, q wire.PeerRelayCheck) error {
	if q.A == "" || q.B == "" {
		return wire.Errorf(wire.CodeInvalidArgument, "name both machines by their WireGuard keys: {\"a\": \"…\", \"b\": \"…\"}")
	}
	isRelay, ok := s.hub.PeerRelayAllowed(m.ID, q.A, q.B)
	switch {
	case !isRelay:
		return wire.Errorf(wire.CodeNotFound, "machine %s is not a relay (the policy's \"relays\" does not name it)", m.Name)
	case !ok:
		return wire.Errorf(wire.CodeForbidden, "these machines may not use a relay between them: one is not in the network map, or the policy does not let them reach each other")
	}
	return nil
}

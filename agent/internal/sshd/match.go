package sshd

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/policy"
	"github.com/wirefleet/wirefleet/pkg/wire"
)

// Match returns the first of pol's rules that lets peer log in as login
// (ok false: none does). Rules are taken in the policy's order, as
// OpenSSH's Match blocks and Tailscale's SSH rules are: the first that
// admits decides, and whether it asks for a check.
func Match(pol *wire.SSHPolicy, peer wire.Peer, login string) (wire.SSHRule, bool) {
	if pol == nil {
		return wire.SSHRule{}, false
	}
	for _, r := range pol.Rules {
		if r.Action != wire.SSHActionAccept && r.Action != wire.SSHActionCheck {
			continue // from a newer server: not understood, not granted
		}
		if srcMatches(r, peer) && policy.SSHUserAllowed(r.Users, login) {
			return r, true
		}
	}
	return wire.SSHRule{}, false
}

// srcMatches reports whether the rule's sources name the peer. The peer
// is one of the map (the tunnel vouches for its address); a range
// matches when it holds one of the peer's overlay addresses.
func srcMatches(r wire.SSHRule, p wire.Peer) bool {
	if len(r.SrcPosture) > 0 && !slices.ContainsFunc(p.Postures, func(ps string) bool { return slices.Contains(r.SrcPosture, ps) }) {
		return false
	}
	for _, s := range r.Src {
		switch {
		case s == "*":
			return true
		case strings.HasPrefix(s, "tag:"):
			if slices.Contains(p.Tags, s[len("tag:"):]) {
				return true
			}
		case strings.HasPrefix(s, "machine:"):
			if n := s[len("machine:"):]; n != "" && (n == p.Name || n == p.ID) {
				return true
			}
		case strings.HasPrefix(s, policy.Directory):
			if slices.Contains(p.Groups, s[len(policy.Directory):]) {
				return true
			}
		default:
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					continue
				}
				pfx = netip.PrefixFrom(a, a.BitLen())
			}
			for _, as := range []string{p.IPv4, p.IPv6} {
				if a, err := netip.ParseAddr(as); err == nil && pfx.Contains(a) {
					return true
				}
			}
		}
	}
	return false
}

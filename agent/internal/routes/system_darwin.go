package routes

import (
	"errors"
	"net/netip"

	"github.com/wirefleet/wirefleet/agent/internal/oscmd"
)

// NewSystem returns macOS's routes, added with route(8) as the overlay's
// are. Routing for the fleet (forwarding with pf's NAT) is not built for
// macOS yet: a Mac uses routes and exit nodes, Linux machines carry them.
func NewSystem() System { return darwinSystem{run: oscmd.System} }

type darwinSystem struct{ run oscmd.Runner }

func (s darwinSystem) AddRoute(iface string, p netip.Prefix) error {
	return oscmd.RunAll(s.run, []oscmd.Cmd{darwinRoute("add", iface, p)})
}

func (s darwinSystem) DelRoute(iface string, p netip.Prefix) error {
	_ = oscmd.RunAll(s.run, []oscmd.Cmd{darwinRoute("delete", iface, p)}) // gone with the interface
	return nil
}

func (darwinSystem) Existing(string, netip.Prefix) bool { return false }

func (darwinSystem) Forward(string, bool) (Undo, error) {
	return Undo{}, errors.New("routing for the fleet (--advertise-routes, --advertise-exit-node) runs on Linux; a Mac can use routes and exit nodes")
}

func (darwinSystem) Unforward(Undo) error { return nil }

func (darwinSystem) Exit(string, bool, []netip.Addr) error {
	return errors.New("using an exit node is built for Linux so far; on macOS the agent's own connections would enter the tunnel")
}

func (darwinSystem) Unexit() error { return nil }

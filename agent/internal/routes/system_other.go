//go:build !linux && !darwin && !windows

package routes

import (
	"errors"
	"net/netip"
)

// NewSystem returns a System that refuses everything: routes are built
// for Linux, macOS and Windows.
func NewSystem() System { return otherSystem{} }

type otherSystem struct{}

var errUnsupported = errors.New("subnet routes are not supported on this OS")

func (otherSystem) AddRoute(string, netip.Prefix) error { return errUnsupported }
func (otherSystem) DelRoute(string, netip.Prefix) error { return nil }
func (otherSystem) Existing(string, netip.Prefix) bool  { return false }
func (otherSystem) Forward(string, bool) (Undo, error)  { return Undo{}, errUnsupported }
func (otherSystem) Unforward(Undo) error                { return nil }

func (otherSystem) Exit(string, bool, []netip.Addr) error { return errUnsupported }
func (otherSystem) Unexit() error                         { return nil }

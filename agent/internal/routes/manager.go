package routes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// System is what the operating system does for routes; each OS has one
// (system_*.go), tests use a fake.
type System interface {
	// AddRoute routes p into the tunnel interface; DelRoute undoes it (a
	// route already gone is not an error).
	AddRoute(iface string, p netip.Prefix) error
	DelRoute(iface string, p netip.Prefix) error
	// Existing reports that the OS routes exactly p through another
	// interface.
	Existing(iface string, p netip.Prefix) bool
	// Forward turns IP forwarding on for traffic from the tunnel, with
	// source NAT to the outgoing interface's address when snat; it
	// returns what to give Unforward to undo it.
	Forward(iface string, snat bool) (Undo, error)
	Unforward(u Undo) error
	// Exit sends every packet not marked with Mark (the agent's own, and
	// WireGuard's) into the tunnel — through an exit node — except to
	// keep (the machine's DNS servers) and, with allowLAN, to the
	// networks the machine is on. Unexit removes it (idempotent).
	Exit(iface string, allowLAN bool, keep []netip.Addr) error
	Unexit() error
}

// Mark is the socket mark of the agent's own traffic: WireGuard's UDP
// sockets and its connections to the server and the relay. With an exit
// node, only unmarked packets go into the tunnel.
const Mark = 0x5a57

// ExitTable is the routing table holding the default route into the
// tunnel while an exit node is used (Linux policy routing).
const ExitTable = 52057

// Undo is what turning forwarding on changed, to restore it.
type Undo struct {
	IPv4Forward string `json:"ipv4_forward,omitempty"` // the sysctl's value before ("0")
	IPv6Forward string `json:"ipv6_forward,omitempty"`
	Table       string `json:"table,omitempty"` // the firewall table added
}

// Record is what the Manager changed, kept in its directory until undone.
type Record struct {
	Interface string   `json:"interface"`
	Routes    []string `json:"routes,omitempty"`
	// Forwarding is set while this machine routes for the fleet.
	Forwarding *Forwarding `json:"forwarding,omitempty"`
	// Exit is set while this machine uses an exit node.
	Exit *ExitRecord `json:"exit,omitempty"`
}

// ExitRecord is how an exit node is used.
type ExitRecord struct {
	AllowLAN bool     `json:"allow_lan"`
	Keep     []string `json:"keep,omitempty"`
}

// Forwarding is a router's setup.
type Forwarding struct {
	SNAT bool `json:"snat"`
	Undo Undo `json:"undo"`
}

// Manager keeps the OS in line with a plan.
type Manager struct {
	Dir string // holds routes.json
	Sys System
	Log *slog.Logger
}

func (m *Manager) file() string { return filepath.Join(m.Dir, "routes.json") }

// Applied returns the record of what is in force.
func (m *Manager) Applied() (Record, bool) {
	b, err := os.ReadFile(m.file())
	if err != nil {
		return Record{}, false
	}
	var r Record
	if json.Unmarshal(b, &r) != nil || r.Interface == "" {
		return Record{}, false
	}
	return r, true
}

func (m *Manager) save(r Record) error {
	if len(r.Routes) == 0 && r.Forwarding == nil && r.Exit == nil {
		if err := os.Remove(m.file()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("routes: remove the record: %w", err)
		}
		return nil
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := atomicfile.WriteFile(m.file(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("routes: write the record: %w", err)
	}
	return nil
}

// Routes installs want on iface and removes what it installed before
// that want no longer names. Each route is recorded before it is added
// and forgotten after it is removed, so a crash in between leaves a
// record that Restore finishes.
func (m *Manager) Routes(iface string, want []netip.Prefix) error {
	r, _ := m.Applied()
	if r.Interface != "" && r.Interface != iface {
		if err := m.Restore(); err != nil {
			return err
		}
		r = Record{}
	}
	r.Interface = iface
	var errs []error
	for _, s := range slices.Clone(r.Routes) {
		p, err := netip.ParsePrefix(s)
		if err == nil && slices.Contains(want, p) {
			continue
		}
		if err == nil {
			if err := m.Sys.DelRoute(iface, p); err != nil {
				errs = append(errs, fmt.Errorf("remove route %s: %w", p, err))
				continue
			}
		}
		r.Routes = slices.DeleteFunc(r.Routes, func(x string) bool { return x == s })
		if err := m.save(r); err != nil {
			return err
		}
	}
	for _, p := range want {
		if slices.Contains(r.Routes, p.String()) {
			continue
		}
		r.Routes = append(r.Routes, p.String())
		if err := m.save(r); err != nil {
			return err
		}
		if err := m.Sys.AddRoute(iface, p); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", p, err))
			r.Routes = slices.DeleteFunc(r.Routes, func(x string) bool { return x == p.String() })
			if err := m.save(r); err != nil {
				return err
			}
			continue
		}
		m.log().Info("route installed", "prefix", p, "iface", iface)
	}
	return errors.Join(errs...)
}

// Forward makes this machine a router for the fleet (on) or stops it.
func (m *Manager) Forward(iface string, on, snat bool) error {
	r, _ := m.Applied()
	if r.Forwarding != nil && (!on || r.Forwarding.SNAT != snat || r.Interface != iface) {
		if err := m.Sys.Unforward(r.Forwarding.Undo); err != nil {
			return fmt.Errorf("routes: stop forwarding: %w", err)
		}
		r.Forwarding = nil
		if err := m.save(r); err != nil {
			return err
		}
		m.log().Info("forwarding for the fleet stopped")
	}
	if !on || r.Forwarding != nil {
		return nil
	}
	if r.Interface != "" && r.Interface != iface && len(r.Routes) > 0 {
		if err := m.Restore(); err != nil {
			return err
		}
		r = Record{}
	}
	u, err := m.Sys.Forward(iface, snat)
	if err != nil {
		return fmt.Errorf("routes: forward for the fleet: %w", err)
	}
	r.Interface, r.Forwarding = iface, &Forwarding{SNAT: snat, Undo: u}
	if err := m.save(r); err != nil {
		_ = m.Sys.Unforward(u)
		return err
	}
	m.log().Info("forwarding for the fleet", "iface", iface, "snat", snat)
	return nil
}

// Exit starts (on) or stops using an exit node through iface.
func (m *Manager) Exit(iface string, on, allowLAN bool, keep []netip.Addr) error {
	r, _ := m.Applied()
	want := &ExitRecord{AllowLAN: allowLAN}
	for _, a := range keep {
		want.Keep = append(want.Keep, a.String())
	}
	if r.Exit != nil && on && r.Interface == iface && r.Exit.AllowLAN == want.AllowLAN && slices.Equal(r.Exit.Keep, want.Keep) {
		return nil
	}
	if r.Exit != nil {
		if err := m.Sys.Unexit(); err != nil {
			return fmt.Errorf("routes: stop using the exit node: %w", err)
		}
		r.Exit = nil
		if err := m.save(r); err != nil {
			return err
		}
		if !on {
			m.log().Info("exit node no longer used: internet traffic leaves directly")
		}
	}
	if !on {
		return nil
	}
	r.Interface, r.Exit = iface, want
	if err := m.save(r); err != nil {
		return err
	}
	if err := m.Sys.Exit(iface, allowLAN, keep); err != nil {
		_ = m.Sys.Unexit()
		r.Exit = nil
		_ = m.save(r)
		return fmt.Errorf("routes: use the exit node: %w", err)
	}
	m.log().Info("internet traffic goes through the exit node", "iface", iface, "allow_lan", allowLAN)
	return nil
}

// Restore removes every route and the forwarding the record names. It is
// idempotent: what is already gone is skipped.
func (m *Manager) Restore() error {
	r, ok := m.Applied()
	if !ok {
		return nil
	}
	var errs []error
	for _, s := range r.Routes {
		if p, err := netip.ParsePrefix(s); err == nil {
			if err := m.Sys.DelRoute(r.Interface, p); err != nil {
				errs = append(errs, fmt.Errorf("remove route %s: %w", p, err))
			}
		}
	}
	if r.Forwarding != nil {
		if err := m.Sys.Unforward(r.Forwarding.Undo); err != nil {
			errs = append(errs, fmt.Errorf("stop forwarding: %w", err))
		}
	}
	if r.Exit != nil {
		if err := m.Sys.Unexit(); err != nil {
			errs = append(errs, fmt.Errorf("stop using the exit node: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("routes: restore: %w", errors.Join(errs...))
	}
	return m.save(Record{})
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

package dnsconfig

import (
	"os"
	"path/filepath"
	"strings"
)

// plan chooses how to configure this machine: systemd-resolved when it
// manages resolv.conf and resolvectl is there, else resolv.conf itself.
func (m *Manager) plan(c Config) (Record, error) {
	rec := Record{Domain: c.Domain, Nameserver: c.Nameserver.String(), Interface: c.Interface}
	if m.resolvedManages() {
		rec.Mode = ModeResolved
		return rec, nil
	}
	rec.Mode, rec.File = ModeResolvConf, m.resolvConf()
	return rec, nil
}

// resolvedManages reports whether systemd-resolved serves this machine's
// lookups: resolv.conf is its stub (a link into /run/systemd/resolve or a
// file saying so) and resolvectl exists.
func (m *Manager) resolvedManages() bool {
	if _, err := m.lookPath("resolvectl"); err != nil {
		return false
	}
	if t, err := filepath.EvalSymlinks(m.resolvConf()); err == nil && strings.HasPrefix(t, "/run/systemd/resolve/") {
		return true
	}
	b, err := os.ReadFile(m.resolvConf())
	return err == nil && strings.Contains(string(b), "systemd-resolved")
}

func (m *Manager) apply(rec Record, c Config) error {
	switch rec.Mode {
	case ModeResolved:
		// Queries for the domain (and only those: "~" makes it a routing
		// domain, default-route off keeps other names away) go to the
		// fleet resolver on the tunnel link. The link's settings vanish
		// with the link, so a crash leaves nothing behind.
		for _, args := range [][]string{
			{"dns", rec.Interface, rec.Nameserver},
			{"domain", rec.Interface, "~" + rec.Domain},
			{"default-route", rec.Interface, "false"},
		} {
			if err := m.run("resolvectl", args...); err != nil {
				return err
			}
		}
		return nil
	default:
		return applyResolvConf(rec.File, rec.Nameserver)
	}
}

func (m *Manager) undo(rec Record) error {
	switch rec.Mode {
	case ModeResolved:
		err := m.run("resolvectl", "revert", rec.Interface)
		if err != nil && strings.Contains(err.Error(), "nterface") {
			return nil // the link is gone, and its settings with it
		}
		return err
	default:
		return undoResolvConf(rec.File)
	}
}

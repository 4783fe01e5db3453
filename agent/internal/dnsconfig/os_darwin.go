package dnsconfig

import "path/filepath"

func (m *Manager) resolverDir() string {
	if m.ResolverDir != "" {
		return m.ResolverDir
	}
	return "/etc/resolver"
}

// plan: macOS asks the nameserver in /etc/resolver/<domain> for names
// under that domain, and its usual resolvers for the rest.
func (m *Manager) plan(c Config) (Record, error) {
	return Record{Mode: ModeResolverFile, Domain: c.Domain, Nameserver: c.Nameserver.String(), Interface: c.Interface,
		File: filepath.Join(m.resolverDir(), c.Domain)}, nil
}

func (m *Manager) apply(rec Record, _ Config) error {
	return applyResolverFile(rec.File, rec.Nameserver)
}

func (m *Manager) undo(rec Record) error { return undoResolverFile(rec.File) }

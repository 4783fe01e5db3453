package dnsconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

const resolverMarker = "# wirefleet-agent: fleet names go to the agent's resolver (removed when the agent stops)"

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
	if b, err := os.ReadFile(rec.File); err == nil && !strings.HasPrefix(string(b), resolverMarker) {
		return fmt.Errorf("%s exists and is not the agent's; remove it or run with --accept-dns=false", rec.File)
	}
	if err := os.MkdirAll(filepath.Dir(rec.File), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(rec.File, []byte(resolverMarker+"\nnameserver "+rec.Nameserver+"\n"), 0o644)
}

func (m *Manager) undo(rec Record) error {
	b, err := os.ReadFile(rec.File)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), resolverMarker) {
		return nil // someone else's now: leave it
	}
	return os.Remove(rec.File)
}

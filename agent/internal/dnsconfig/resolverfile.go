package dnsconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// resolverMarker starts the macOS /etc/resolver/<domain> file the agent
// writes: a file without it is someone else's and is left alone.
const resolverMarker = "# wirefleet-agent: fleet names go to the agent's resolver (removed when the agent stops)"

// applyResolverFile writes a resolver(5) file sending the domain's
// queries to nameserver. Portable, so that it is tested everywhere; macOS
// uses it.
func applyResolverFile(path, nameserver string) error {
	if b, err := os.ReadFile(path); err == nil && !strings.HasPrefix(string(b), resolverMarker) {
		return fmt.Errorf("%s exists and is not the agent's; remove it or run with --accept-dns=false", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, []byte(resolverMarker+"\nnameserver "+nameserver+"\n"), 0o644)
}

// undoResolverFile removes the agent's resolver file, if it is the agent's.
func undoResolverFile(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), resolverMarker) {
		return nil // someone else's now: leave it
	}
	return os.Remove(path)
}

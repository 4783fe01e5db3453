// Package dnsconfig points the operating system's resolver at the agent's
// fleet resolver for the fleet's domain only (split DNS), the OS's own
// way, and undoes it:
//
//   - Linux with systemd-resolved: per-link DNS server and routing domain
//     (~fleet.internal) on the tunnel interface, through resolvectl;
//   - other Linux: a marked block at the top of /etc/resolv.conf naming the
//     fleet resolver first (it refuses every other name, so lookups move
//     on to the machine's own servers);
//   - macOS: /etc/resolver/<domain>;
//   - Windows: a Name Resolution Policy Table rule for .<domain>.
//
// Before changing anything, the Manager records what it is about to do in
// its state directory; Restore undoes whatever the record names, so a
// start after a crash cleans up what the crashed process left. Restore is
// idempotent.
package dnsconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wirefleet/wirefleet/pkg/atomicfile"
)

// Modes: how the OS was configured.
const (
	ModeResolved     = "systemd-resolved"
	ModeResolvConf   = "resolv.conf"
	ModeResolverFile = "resolver-file" // macOS /etc/resolver/<domain>
	ModeNRPT         = "nrpt"          // Windows
)

// Config is what the OS is told: queries for Domain go to Nameserver,
// which listens on the tunnel Interface.
type Config struct {
	Interface  string
	Nameserver netip.Addr
	Domain     string // without the trailing dot
}

// Record is what the Manager changed, kept in its state directory until
// it is undone.
type Record struct {
	Mode       string `json:"mode"`
	Interface  string `json:"interface,omitempty"`
	Domain     string `json:"domain"`
	Nameserver string `json:"nameserver"`
	File       string `json:"file,omitempty"` // the file changed (resolv.conf, /etc/resolver/<domain>)
	Key        string `json:"key,omitempty"`  // the registry key (NRPT)
}

// Manager applies and restores the configuration.
type Manager struct {
	// Dir holds the record (dns.json).
	Dir string
	// ResolvConf is /etc/resolv.conf unless set (tests).
	ResolvConf string
	// ResolverDir is macOS's /etc/resolver unless set (tests).
	ResolverDir string
	// NRPTKey is the registry key NRPT rules live under unless set (tests).
	NRPTKey string
	// Run runs a command (resolvectl); exec unless set (tests).
	Run func(name string, args ...string) error
	// LookPath finds a command; exec.LookPath unless set (tests).
	LookPath func(string) (string, error)
	Log      *slog.Logger
}

func (m *Manager) record() string { return filepath.Join(m.Dir, "dns.json") }

func (m *Manager) resolvConf() string {
	if m.ResolvConf != "" {
		return m.ResolvConf
	}
	return "/etc/resolv.conf"
}

func (m *Manager) run(name string, args ...string) error {
	if m.Run != nil {
		return m.Run(name, args...)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (m *Manager) lookPath(name string) (string, error) {
	if m.LookPath != nil {
		return m.LookPath(name)
	}
	return exec.LookPath(name)
}

func (m *Manager) log() *slog.Logger {
	if m.Log != nil {
		return m.Log
	}
	return slog.Default()
}

// Applied returns the configuration in force (recorded), if any.
func (m *Manager) Applied() (Record, bool) {
	b, err := os.ReadFile(m.record())
	if err != nil {
		return Record{}, false
	}
	var r Record
	if json.Unmarshal(b, &r) != nil || r.Mode == "" {
		return Record{}, false
	}
	return r, true
}

// Apply configures the OS for c, first undoing an earlier configuration
// that differs (another domain, nameserver or interface, or one a crashed
// process left). It returns what it did.
func (m *Manager) Apply(c Config) (Record, error) {
	if c.Domain == "" || !c.Nameserver.IsValid() {
		return Record{}, errors.New("dnsconfig: a domain and a nameserver are needed")
	}
	if old, ok := m.Applied(); ok {
		if old.Domain == c.Domain && old.Nameserver == c.Nameserver.String() && old.Interface == c.Interface {
			// The same again: re-apply (idempotent) in case the OS lost it,
			// e.g. a DHCP client rewrote resolv.conf.
			return old, m.apply(old, c)
		}
		if err := m.Restore(); err != nil {
			return Record{}, err
		}
	}
	rec, err := m.plan(c)
	if err != nil {
		return Record{}, err
	}
	// The record first: a crash between the two is undone at next start.
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return Record{}, fmt.Errorf("dnsconfig: %w", err)
	}
	b, _ := json.Marshal(rec)
	if err := atomicfile.WriteFile(m.record(), b, 0o600); err != nil {
		return Record{}, fmt.Errorf("dnsconfig: record: %w", err)
	}
	if err := m.apply(rec, c); err != nil {
		// Leave nothing half-done behind.
		return Record{}, errors.Join(err, m.Restore())
	}
	m.log().Info("DNS: fleet names resolve through the agent", "domain", c.Domain, "nameserver", c.Nameserver, "mode", rec.Mode)
	return rec, nil
}

// Restore undoes what the record names and removes the record. With no
// record it does nothing.
func (m *Manager) Restore() error {
	rec, ok := m.Applied()
	if !ok {
		if err := os.Remove(m.record()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dnsconfig: %w", err)
		}
		return nil
	}
	if err := m.undo(rec); err != nil {
		return fmt.Errorf("dnsconfig: restore %s: %w", rec.Mode, err)
	}
	if err := os.Remove(m.record()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dnsconfig: %w", err)
	}
	m.log().Info("DNS: resolver configuration restored", "mode", rec.Mode)
	return nil
}
